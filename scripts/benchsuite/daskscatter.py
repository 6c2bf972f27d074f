"""One array to every worker of a Dask cluster: npshm.dask.scatter against
client.scatter(broadcast=True) and passing the array in the graph (issue 14).

A LocalCluster (worker processes, 127.0.0.1) with --workers workers on each
of --hosts simulated hosts (a host = a segment directory under /dev/shm; the
client shares host 0's). Each contender runs one task per worker that
touches every page of the array; measured: wall time from "the client has
the array" to "every task is back", summed PSS growth of the workers, and
for npshm the number of transfers the client served.

    PYTHONPATH=pyshim/src .venv/bin/python scripts/benchsuite/daskscatter.py --size 512 --hosts 2 --workers 4
"""
import argparse
import os
import shutil
import tempfile
import time

import numpy as np
from distributed import Client, LocalCluster, Nanny

import npshm.dask as nd


def rollup(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def touch(a):
    return float(a[:: 4096 // a.itemsize].sum())


def own_pss(a):
    touch(a)
    return rollup(os.getpid())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512, help="MiB")
    ap.add_argument("--hosts", type=int, default=2)
    ap.add_argument("--workers", type=int, default=4, help="per host")
    args = ap.parse_args()
    dirs = [tempfile.mkdtemp(prefix="npshm_bench_dask_", dir="/dev/shm") for _ in range(args.hosts)]
    os.environ["NPSHM_DIR"] = dirs[0]
    opts = {"nthreads": 1, "host": "127.0.0.1", "memory_limit": 0, "dashboard_address": "127.0.0.1:0",
            "silence_logs": 40}
    cluster = LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                           silence_logs=40)
    for h, d in enumerate(dirs):
        for w in range(args.workers):
            cluster.worker_spec[f"h{h}w{w}"] = {"cls": Nanny, "options": {**opts, "env": {"NPSHM_DIR": d}}}
    cluster.sync(cluster._correct_state)
    client = Client(cluster)
    client.wait_for_workers(args.hosts * args.workers)
    try:
        x = np.arange(args.size * (1 << 20) // 8, dtype=np.float64)
        want = touch(x)
        workers = sorted(client.run(os.getpid))
        pids = list(client.run(os.getpid).values())
        rows = []

        def pss():
            return sum(rollup(p) for p in pids)

        before = pss()
        t = time.perf_counter()
        with nd.scatter(client, x) as h:
            assert client.gather([client.submit(touch, h, workers=[w], pure=False) for w in workers]) == [want] * len(workers)
            dt = time.perf_counter() - t
            rows.append(("npshm.dask.scatter", dt, (pss() - before) / x.nbytes, f"{h.fetches} (one per other host)"))
        before = pss()
        t = time.perf_counter()
        fut = client.scatter(x, broadcast=True)
        assert client.gather([client.submit(touch, fut, workers=[w], pure=False) for w in workers]) == [want] * len(workers)
        rows.append(("client.scatter(broadcast=True)", time.perf_counter() - t, (pss() - before) / x.nbytes, "-"))
        del fut
        time.sleep(1)
        before_each = client.run(lambda: rollup(os.getpid()))
        t = time.perf_counter()
        after = client.gather([client.submit(own_pss, x, workers=[w], pure=False) for w in workers])
        rows.append(("array in the graph", time.perf_counter() - t, (sum(after) - sum(before_each.values())) / x.nbytes, "-"))
    finally:
        client.close()
        cluster.close()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    n = args.hosts * args.workers
    print(f"{args.size} MiB float64 to {n} worker processes ({args.hosts} simulated hosts x {args.workers}), one task each")
    print()
    print("| way | time to every result | summed worker PSS growth / array | transfers from the client |")
    print("|---|---|---|---|")
    for name, dt, ratio, fetches in rows:
        print(f"| {name} | {dt:.2f} s | {ratio:.2f}x | {fetches} |")


if __name__ == "__main__":
    import warnings
    warnings.filterwarnings("ignore", message="Sending large graph")
    main()
