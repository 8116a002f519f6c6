"""Reading and writing the file formats scRNA-seq data comes in."""
