"""Gather arrays that Go loaded into shared memory into one HDF5 file.

The seed pipeline (np.loadtxt in a Pool, SharedMemory, gather, h5py) becomes:

    npshm load data*.txt --dtype chr:S10,pos:i4,pct:f4,c:i4,t:i4 --name-each part
    python to_hdf5.py genome.h5 part0 part1 part2      # zero-copy reads, one write
    npshm rm part0 part1 part2

Each array becomes one dataset, with the same structured dtype."""
import sys

import h5py

import npshm

out, names = sys.argv[1], sys.argv[2:]
with h5py.File(out, "w") as f:
    for name in names:
        a = npshm.get(name)  # a view of the shared array: no copy until h5py writes it
        f.create_dataset(name, data=a)
        print(f"{name}: {a.dtype} {a.shape} -> {out}:/{name}")
