"""One of many independent scripts using the published matrix, zero-copy.

    python script.py matrix 1 &
    python script.py matrix 2 &"""
import sys

import npshm

matrix = npshm.get(sys.argv[1])  # read-only view of the one shared copy
k = int(sys.argv[2])
print(f"script {k}: sum of row {k} = {matrix[k].sum()}")
