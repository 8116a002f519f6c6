"""Type aliases shared by the package's modules."""
import os
from typing import Sequence, Union

import numpy as np
import scipy.sparse as sp

#: A count or expression matrix, cells x genes: dense or SciPy sparse.
Matrix = Union[np.ndarray, sp.spmatrix, sp.sparray]
#: A file or directory path.
PathLike = Union[str, "os.PathLike[str]"]
#: Cell ids, gene names or type names: a list or a NumPy array.
Strings = Union[Sequence, np.ndarray]
#: Per-cell numbers: a list or a NumPy array.
Floats = Union[Sequence[float], np.ndarray]
