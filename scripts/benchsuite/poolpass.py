"""Passing an array to a Pool of spawn workers: npshm against plain pickling
and the stdlib SharedMemory by hand (issue 10).

The producer holds an array in its own memory; each of 4 spawn workers
(started before timing) gets it as a Pool.map argument and returns its sum.
Timed: from "the producer has the array" to "every sum is back", so the
shared-memory contenders include their copy into shared memory.

    python scripts/benchsuite/poolpass.py --size 64MiB --rounds 3   (standalone)
    scripts/bench --pool-only                                   (1 GiB; with --quick 1 MiB)
"""
import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from multiprocessing import shared_memory

import numpy as np

import npshm

SIZES = {"1MiB": 1 << 20, "64MiB": 64 << 20, "256MiB": 256 << 20, "1GiB": 1 << 30}


def total(a):
    return float(a.sum())


def total_shm(args):
    """The stdlib recipe's worker: attach by name, view, sum, close."""
    name, shape, dtype = args
    shm = shared_memory.SharedMemory(name=name)
    try:
        a = np.ndarray(shape, dtype=dtype, buffer=shm.buf)
        s = float(a.sum())
        del a
        return s
    finally:
        shm.close()


def contenders(pool, arr, nworkers):
    def npshm_share():
        with npshm.share(arr) as s:
            return pool.map(total, [s.array] * nworkers)

    shared = npshm.share(arr)

    def npshm_already():
        return pool.map(total, [shared.array] * nworkers)

    def plain_pickle():
        return pool.map(total, [arr] * nworkers)

    def stdlib_by_hand():
        shm = shared_memory.SharedMemory(create=True, size=arr.nbytes)
        try:
            view = np.ndarray(arr.shape, dtype=arr.dtype, buffer=shm.buf)
            view[...] = arr
            del view
            return pool.map(total_shm, [(shm.name, arr.shape, arr.dtype.str)] * nworkers)
        finally:
            shm.close()
            shm.unlink()

    return {
        "npshm.share(arr), pass s.array (by reference)": npshm_share,
        "npshm, array already in shared memory (attach/loadtxt result)": npshm_already,
        "plain pickling (numpy's default: a copy per task)": plain_pickle,
        "stdlib SharedMemory by hand (copy in, pass name/shape/dtype)": stdlib_by_hand,
    }, shared


def section(nbytes, rounds, nworkers=4):
    """A markdown table of the contenders' times, median of `rounds`."""
    arr = (np.arange(nbytes // 8) % 1000).astype(np.float64)
    want = float(arr.sum())
    with mp.get_context("spawn").Pool(nworkers) as pool:
        pool.map(total, [np.zeros(1)] * nworkers)  # workers up and numpy imported before timing
        cont, shared = contenders(pool, arr, nworkers)
        names = list(cont)
        times = {n: [] for n in names}
        for n in names:  # warm-up: first-use costs
            cont[n]()
        for r in range(rounds):
            for n in names[r % len(names):] + names[: r % len(names)]:
                t = time.perf_counter()
                got = cont[n]()
                times[n].append(time.perf_counter() - t)
                assert got == [want] * nworkers, (n, got[:1], want)
        shared.__exit__(None, None, None)
    ref = statistics.median(times[names[0]])
    size = f"{nbytes / 2**30:.0f} GiB" if nbytes >= 1 << 30 else f"{nbytes / 2**20:.0f} MiB"
    lines = [f"**Pass a {size} array to a Pool of {nworkers} spawn workers (Pool.map argument, each returns its sum)**", "",
             "| contender | median | min | max | x npshm |", "|---|---:|---:|---:|---:|"]
    for n in names:
        ts = times[n]
        lines.append(f"| {n} | {fmt(statistics.median(ts))} | {fmt(min(ts))} | {fmt(max(ts))} | "
                     f"{statistics.median(ts) / ref:.2f}x |")
    return "\n".join(lines)


def fmt(s):
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="64MiB", choices=list(SIZES))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    print(section(SIZES[args.size], args.rounds, args.workers))
    print(f"\n(measured with `python scripts/benchsuite/poolpass.py --size {args.size} --rounds {args.rounds}` "
          f"on {os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {np.__version__})")


if __name__ == "__main__":
    main()
