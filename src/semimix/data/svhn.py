"""Reader for SVHN's cropped-digit MATLAB files (train_32x32.mat, test_32x32.mat, extra_32x32.mat).

Each holds ``X``, uint8 images of shape (32, 32, 3, N), and ``y``, N labels 1..10 where 10
stands for the digit 0 (the official convention, which torchvision also maps to 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from semimix.data.readers import class_ids, damaged, first_line

ZERO_LABEL = 10


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images as an (N, 3, 32, 32) uint8 view of the file's array, and labels 0..9 as int64."""
    try:
        content = scipy.io.loadmat(path, variable_names=["X", "y"])
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise damaged(path, "is a MATLAB v7.3 (HDF5) file; the official SVHN files are MATLAB v5, re-save it with save(..., '-v7')") from None
    except Exception as err:  # scipy's parser raises many types for damaged files; none of them runs file content
        raise damaged(path, f"is not a readable MATLAB file ({first_line(err)})") from None
    missing = [key for key in ("X", "y") if key not in content]
    if missing:
        raise damaged(path, f"has no variable {' or '.join(missing)}; expected X (32x32x3xN uint8 images) and y (N labels 1..10)")
    x = content["X"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        described = f"a {x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else f"a {type(x).__name__}"
        raise damaged(path, f"X is {described}, expected uint8 of shape (32, 32, 3, N)")
    labels = content["y"]
    if not isinstance(labels, np.ndarray) or labels.size != x.shape[3]:
        size = labels.size if isinstance(labels, np.ndarray) else type(labels).__name__
        raise damaged(path, f"y has {size} labels but X holds {x.shape[3]} images")
    y = class_ids(labels.ravel(), 1, ZERO_LABEL, path, "y")
    y[y == ZERO_LABEL] = 0
    return x.transpose(3, 2, 0, 1), y
