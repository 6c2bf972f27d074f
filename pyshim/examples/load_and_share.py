"""Load a matrix once and publish it by name for any later script.

    python load_and_share.py matrix.npy matrix    # then exits; the array stays

Works with .npy files (np.load) and text files (np.loadtxt)."""
import sys

import numpy as np

import npshm

path, name = sys.argv[1], sys.argv[2]
matrix = np.load(path) if path.endswith(".npy") else np.loadtxt(path)
d = npshm.publish(name, matrix)
print(f"published {name}: {matrix.dtype} {matrix.shape}, {d['nbytes']} bytes")
