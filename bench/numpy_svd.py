"""numpy.linalg.svd of the matrix in a .npy file: best wall time of R runs.

    python3 numpy_svd.py W.npy R

Full SVD (full_matrices=True, LAPACK gesdd through NumPy's own BLAS/LAPACK), after
one warm-up SVD of a small matrix so that library and thread start-up are not timed.
Prints the best time in seconds.
"""
import sys
import time

import numpy as np

w = np.load(sys.argv[1])
np.linalg.svd(np.eye(64) + 1e-3 * np.arange(64 * 64).reshape(64, 64))
best = float("inf")
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    np.linalg.svd(w, full_matrices=True)
    best = min(best, time.perf_counter() - t0)
print(best)
