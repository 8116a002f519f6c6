"""Type aliases shared by the package's modules, and the range of a seed."""
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

#: The largest random seed: scikit-learn's ``random_state`` (the linear
#: member's) takes 0 to 2**32 - 1, and every seed here is one.
MAX_SEED = 2**32 - 1
