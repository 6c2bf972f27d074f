"""npshm benchmarks, side by side with what users would pick instead.

Run through scripts/bench, which sets up .venv-bench and builds the Go helper:

    scripts/bench                 1 MiB, 64 MiB, 1 GiB; 3 rounds
    scripts/bench --large         adds 4 GiB
    scripts/bench --quick         1 MiB, 1 round (scripts/test runs this)
    scripts/bench --write-docs    also rewrite the figures in docs/BENCHMARKS.md and its plot

Every scenario runs all its contenders in this one process tree, the contenders'
order rotating from round to round; tables give median, min and max, and each
contender's median relative to npshm's. Consumers are spawned Python processes,
started before timing; the Go side is a long-running helper (gohelper); so no
interpreter or process start-up is ever timed. Every consumer returns its sum,
which is checked. Text loading runs on two generated file sets: 2 files of
20 MB (fixed costs show) and 4 files of --text-mib in all (886 MiB at the
default 1024), each loaded by npshm's CLI (process start included), np.loadtxt,
pandas and pyarrow; --text-only runs just those.
"""
import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import npshm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SIZES = {"1MiB": 1 << 20, "64MiB": 64 << 20, "1GiB": 1 << 30, "4GiB": 4 << 30}
SHM = "/dev/shm"


def data(nbytes):
    """The array every producer holds: float64 i % 1000 (the Go helper makes the same)."""
    return (np.arange(nbytes // 8) % 1000).astype(np.float64)


# ---------------------------------------------------------------- consumers


def worker(conn):
    """A consumer process: receives an array however the contender hands it
    over, sums it, replies with the sum. 'hold' keeps it (for memory)."""
    from multiprocessing import shared_memory

    held = []
    while True:
        msg = conn.recv()
        kind = msg[0]
        if kind == "quit":
            return
        if kind == "pss":
            conn.send(rollup(os.getpid()))
            continue
        if kind == "drop":
            held.clear()
            conn.send(0)
            continue
        keep = None
        if kind == "pickle":
            a = msg[1]
        elif kind == "npshm":
            a = npshm.attach(msg[1])
        elif kind == "arrow":
            import pyarrow as pa

            reader = pa.ipc.open_file(pa.memory_map(msg[1]))
            a = reader.get_batch(0).column(0).to_numpy()  # zero-copy view of the mapped file
            keep = reader
        elif kind == "stdlib":
            # Spawned workers share the producer's resource tracker, which
            # already tracks this name: attaching re-registers it (a no-op);
            # unregistering here would make the producer's unlink fail.
            shm = shared_memory.SharedMemory(name=msg[1])
            a = np.ndarray(msg[2], dtype=msg[3], buffer=shm.buf)
            keep = shm
        elif kind == "npyload":
            a = np.load(msg[1])
        elif kind == "sharedarray":
            import SharedArray

            a = SharedArray.attach(msg[1], ro=True)
        else:
            raise ValueError(kind)
        s = float(a.sum())
        if msg[-1] == "hold":
            held.append((a, keep))
        else:
            del a
            if isinstance(keep, shared_memory.SharedMemory):
                keep.close()
        conn.send(s)


def rollup(pid):
    """/proc/PID/smaps_rollup in bytes per field."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return out


class Workers:
    def __init__(self, n):
        ctx = mp.get_context("spawn")
        self.conns, self.procs = [], []
        for _ in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker, args=(child,), daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)

    def ask(self, i, *msg):
        self.conns[i].send(msg)
        return self.conns[i].recv()

    def close(self):
        for c in self.conns:
            c.send(("quit",))
        for p in self.procs:
            p.join(10)


class GoHelper:
    def __init__(self, path):
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        reply = self.p.stdout.readline().strip()
        if reply.startswith("error") or not reply:
            raise RuntimeError(f"gohelper {line.split()[0]}: {reply}")
        return reply

    def close(self):
        self.p.stdin.close()
        self.p.wait(30)


# ---------------------------------------------------------------- scenarios


def check(got, want, label):
    if abs(got - want) > 1e-6 * max(1.0, abs(want)):
        raise AssertionError(f"{label}: consumer summed {got}, want {want}")


def e2e_contenders(go, w, arr, nbytes):
    """End to end: the producer holds the array; a consumer process has summed it."""
    n = arr.size
    want = float(arr.sum())
    shape, dt = arr.shape, arr.dtype.str
    tag = f"{os.getpid()}_{nbytes}"

    def go_npshm():
        desc = go.ask(f"npshm_produce {n}")
        check(w.ask(0, "npshm", desc, ""), want, "npshm Go->numpy")
        return lambda: go.ask(f"release {json.loads(desc)['name']}")

    def go_arrow():
        path = f"{SHM}/bench_{tag}.arrow"
        go.ask(f"arrow_produce {n} {path}")
        check(w.ask(0, "arrow", path, ""), want, "arrow")
        return lambda: os.unlink(path)

    def py_npshm():
        s = npshm.share(arr)
        check(w.ask(0, "npshm", s.descriptor, ""), want, "npshm numpy->numpy")
        return lambda: s.__exit__(None, None, None)

    def py_npshm_to_go():
        s = npshm.share(arr)
        check(float(go.ask("consume " + json.dumps(s.descriptor))), want, "npshm numpy->Go")
        return lambda: s.__exit__(None, None, None)

    def pickle_pipe():
        check(w.ask(0, "pickle", arr, ""), want, "pickle")
        return lambda: None

    def stdlib():
        from multiprocessing import shared_memory

        shm = shared_memory.SharedMemory(create=True, size=nbytes)
        np.ndarray(shape, dtype=dt, buffer=shm.buf)[:] = arr
        check(w.ask(0, "stdlib", shm.name, shape, dt, ""), want, "stdlib")

        def done():
            shm.close()
            shm.unlink()

        return done

    def npsave():
        path = f"{SHM}/bench_{tag}.npy"
        np.save(path, arr)
        check(w.ask(0, "npyload", path, ""), want, "np.save/np.load")
        return lambda: os.unlink(path)

    def sharedarray():
        import SharedArray

        name = f"shm://bench_sa_{tag}"
        a = SharedArray.create(name, shape, dtype=dt)
        a[:] = arr
        check(w.ask(0, "sharedarray", name, ""), want, "SharedArray")
        del a
        return lambda: SharedArray.delete(name)

    contenders = {
        "npshm Go->numpy": go_npshm,
        "npshm numpy->numpy": py_npshm,
        "npshm numpy->Go": py_npshm_to_go,
        "Arrow IPC Go->pyarrow": go_arrow,
        "pickle over mp.Pipe": pickle_pipe,
        "stdlib SharedMemory+copy": stdlib,
        "np.save/np.load /dev/shm": npsave,
        "SharedArray create+copy": sharedarray,
    }
    # Peak memory, in array sizes, beyond the producer's copy: pickle holds
    # the pickled bytes, the receiver's buffer and the unpickled array.
    need = {"pickle over mp.Pipe": 4, "np.save/np.load /dev/shm": 2}
    skipped = []
    for name, k in need.items():
        if (k + 2) * nbytes > rollup_meminfo():
            del contenders[name]
            skipped.append(f"{name}: not run, it needs about {(k + 1) * nbytes / 2**30:.0f} GiB more than this machine has free")
    return contenders, skipped


def attach_contenders(go, nbytes, k):
    """Median time to attach an existing array of nbytes (k attaches each)."""
    from multiprocessing import resource_tracker, shared_memory

    s = npshm.create((nbytes // 8,), "f8")
    import SharedArray

    sa_name = f"shm://bench_att_{os.getpid()}"
    SharedArray.create(sa_name, (nbytes // 8,), dtype="f8")

    def median_of(fn):
        keep, d = [], []
        for _ in range(k):
            t = time.perf_counter()
            keep.append(fn())
            d.append(time.perf_counter() - t)
            if len(keep) > 8:
                keep.pop(0)
        keep.clear()
        return statistics.median(d)

    def stdlib_attach():
        # SharedMemory(name) registers the segment with the resource tracker
        # (which would unlink it at exit); cleanup unregisters it once.
        shm = shared_memory.SharedMemory(name=s.name)
        a = np.ndarray((nbytes // 8,), dtype="f8", buffer=shm.buf, offset=s.descriptor["offset"])
        return (a, shm)

    contenders = {
        "npshm.attach (Python)": lambda: median_of(lambda: npshm.attach(s.name)),
        "bridge.OpenArray (Go)": lambda: float(go.ask(f"attach {s.name} {k}")) / 1e6,
        "stdlib SharedMemory+ndarray": lambda: median_of(stdlib_attach),
        "np.load(mmap_mode='r')": lambda: median_of(lambda: np.load(s.path, mmap_mode="r")),
        "SharedArray.attach": lambda: median_of(lambda: SharedArray.attach(sa_name, ro=True)),
    }

    def cleanup():
        resource_tracker.unregister("/" + s.name, "shared_memory")
        s.__exit__(None, None, None)
        SharedArray.delete(sa_name)

    return contenders, cleanup


def put_contenders(path, nbytes):
    npshm_bin = os.path.join(ROOT, "bin", "npshm")

    def npshm_put():
        t = time.perf_counter()
        out = subprocess.run([npshm_bin, "put", path], capture_output=True, text=True, check=True).stdout
        dt = time.perf_counter() - t
        subprocess.run([npshm_bin, "rm", json.loads(out)["name"]], check=True)
        return dt

    def stdlib_readinto():
        from multiprocessing import shared_memory

        t = time.perf_counter()
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            shm = shared_memory.SharedMemory(create=True, size=size)
            f.readinto(shm.buf)
        dt = time.perf_counter() - t
        shm.close()
        shm.unlink()
        return dt

    def npload_share():
        t = time.perf_counter()
        s = npshm.share(np.load(path))
        dt = time.perf_counter() - t
        s.__exit__(None, None, None)
        return dt

    return {
        "npshm put FILE (CLI, incl. process start)": npshm_put,
        "stdlib SharedMemory+readinto": stdlib_readinto,
        "np.load + npshm.share": npload_share,
    }


def produce_contenders(go, arr):
    n = arr.size

    def seed_recipe():
        from multiprocessing import shared_memory

        t = time.perf_counter()
        shm = shared_memory.SharedMemory(create=True, size=arr.nbytes)
        np.ndarray(arr.shape, dtype=arr.dtype, buffer=shm.buf)[:] = arr
        dt = time.perf_counter() - t
        shm.close()
        shm.unlink()
        return dt

    return {
        "Go CreateArray + copy (fresh)": lambda: float(go.ask(f"fill_fresh {n}")),
        "Go Pool.CreateArray + copy (warm)": lambda: float(go.ask(f"fill_pool {n}")),
        "Python seed recipe (SharedMemory + copy)": seed_recipe,
        "Go memcpy into warm heap (ceiling)": lambda: float(go.ask(f"memcpy {n}")),
    }


SEED_DTYPE = [("chr", "S10"), ("pos", "<i4"), ("pct", "<f4"), ("c", "<i4"), ("t", "<i4")]
SEED_SPEC = "chr:S10,pos:i4,pct:f4,c:i4,t:i4"


def _loadtxt_one(path):
    return np.loadtxt(path, dtype=SEED_DTYPE)


def loadtxt_contenders(paths):
    """Text files (in the page cache) -> the seed's structured records in memory."""
    npshm_bin = os.path.join(ROOT, "bin", "npshm")
    names = [n for n, _ in SEED_DTYPE]

    def npshm_load():
        out = subprocess.run([npshm_bin, "load", "--dtype", SEED_SPEC, *paths], capture_output=True, text=True, check=True).stdout
        descs = [json.loads(l) for l in out.splitlines()]
        arrays = [npshm.attach(d) for d in descs]  # what a consumer does next: microseconds
        rows = sum(a.size for a in arrays)
        del arrays
        # cleanup (untimed, like the other contenders' freeing of their results)
        return rows, lambda: subprocess.run([npshm_bin, "rm", *[d["name"] for d in descs]], check=True)

    def loadtxt_serial():
        return sum(_loadtxt_one(p).size for p in paths)

    def loadtxt_pool():
        with mp.get_context("fork").Pool(os.cpu_count()) as pool:
            return sum(a.size for a in pool.map(_loadtxt_one, paths))

    def pandas_csv():
        import pandas as pd

        return sum(len(pd.read_csv(p, sep=" ", header=None, names=names, engine="c",
                                   dtype={"chr": "S10", "pos": "i4", "pct": "f4", "c": "i4", "t": "i4"})) for p in paths)

    def pyarrow_csv():
        import pyarrow as pa
        import pyarrow.csv as pc

        types = {"chr": pa.string(), "pos": pa.int32(), "pct": pa.float32(), "c": pa.int32(), "t": pa.int32()}
        return sum(pc.read_csv(p, read_options=pc.ReadOptions(column_names=names),
                               parse_options=pc.ParseOptions(delimiter=" "),
                               convert_options=pc.ConvertOptions(column_types=types)).num_rows for p in paths)

    return {
        "npshm load (CLI, all cores, incl. process start)": npshm_load,
        "np.loadtxt (one process)": loadtxt_serial,
        f"np.loadtxt in Pool({os.cpu_count()}) (the seed recipe)": loadtxt_pool,
        "pandas.read_csv (C engine)": pandas_csv,
        "pyarrow.csv.read_csv (threads)": pyarrow_csv,
    }


def text_case(go, nfiles, rows_each, rounds):
    """The text-loading table for nfiles generated files of rows_each rows."""
    paths = [f"/tmp/npshm_bench_text_{os.getpid()}_{i}.txt" for i in range(nfiles)]
    for i, p in enumerate(paths):
        go.ask(f"gentext {p} {rows_each} {i}")
    nbytes = sum(os.path.getsize(p) for p in paths)
    print(f"== text: {nfiles} files, {nbytes / 2**20:.0f} MiB, {rows_each * nfiles} rows", file=sys.stderr, flush=True)
    cont = loadtxt_contenders(paths)
    rows = {}

    def measure(fn):
        t = time.perf_counter()
        r = fn()
        dt = time.perf_counter() - t
        if isinstance(r, tuple):
            r, cleanup = r
            cleanup()
        rows[fn] = r
        return dt

    try:
        res = run_rounds(cont, rounds, measure, warmup=nbytes <= 64 << 20)  # at 1 GB imports are noise; a warm-up would cost minutes
    finally:
        for p in paths:
            os.unlink(p)
    for fn in cont.values():
        assert rows[fn] == rows_each * nfiles, (rows[fn], rows_each * nfiles)
    t = table(f"Text loading: {nfiles} files, {nbytes / 2**20:.0f} MiB, {rows_each * nfiles} rows of chr pos pct c t "
              f"-> structured records (GB/s column: input text)", res, nbytes, "np.loadtxt (one process)")
    t += "\n\n| contender | rows/s (median) |\n|---|---:|\n" + "\n".join(
        f"| {n} | {rows_each * nfiles / statistics.median(ts) / 1e6:.1f} M |" for n, ts in res.items())
    return t


def run_rounds(contenders, rounds, measure, warmup=True):
    """{name: [seconds...]}, the contenders' order rotating each round, after
    one untimed warm-up run of each (first-use costs: imports, allocations)."""
    names = list(contenders)
    out = {name: [] for name in names}
    for name in names if warmup else []:
        measure(contenders[name])
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            out[name].append(measure(contenders[name]))
    return out


def timed(step):
    """Time a contender step that returns its cleanup; cleanup is not timed."""
    t = time.perf_counter()
    cleanup = step()
    dt = time.perf_counter() - t
    cleanup()
    return dt


def memory(go, nbytes, nworkers):
    """Summed PSS of nworkers numpy processes that attached one array and
    summed it, against each loading its own copy (np.load of the same .npy)."""
    w = Workers(nworkers)
    out = {}
    try:
        arr = data(nbytes)
        want = float(arr.sum())
        s = npshm.share(arr)
        del arr
        base = [w.ask(i, "pss")["Pss"] for i in range(nworkers)]
        for i in range(nworkers):
            check(w.ask(i, "npshm", s.descriptor, "hold"), want, "memory npshm")
        after = [w.ask(i, "pss")["Pss"] for i in range(nworkers)]
        out["npshm: 8 processes attach"] = sum(a - b for a, b in zip(after, base))
        for i in range(nworkers):
            w.ask(i, "drop")
        avail = rollup_meminfo()
        if nworkers * nbytes < 0.6 * avail:
            path = f"{SHM}/bench_mem_{os.getpid()}.npy"
            np.save(path, npshm.attach(s.name))
            base = [w.ask(i, "pss")["Pss"] for i in range(nworkers)]
            for i in range(nworkers):
                check(w.ask(i, "npyload", path, "hold"), want, "memory copy")
            after = [w.ask(i, "pss")["Pss"] for i in range(nworkers)]
            out["each loads its own copy (np.load)"] = sum(a - b for a, b in zip(after, base))
            for i in range(nworkers):
                w.ask(i, "drop")
            os.unlink(path)
        s.__exit__(None, None, None)
    finally:
        w.close()
    return out


def rollup_meminfo():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------- reporting


def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def table(title, results, nbytes, ref, throughput=True):
    """Markdown table; ratio = contender median / ref's median (>1: slower)."""
    lines = [f"**{title}**", "", "| contender | median | min | max | " + ("GB/s | " if throughput else "") + f"vs {ref} |",
             "|---|---:|---:|---:|" + ("---:|" if throughput else "") + "---:|"]
    ref_med = statistics.median(results[ref]) if ref in results else None
    for name, ts in results.items():
        med = statistics.median(ts)
        row = f"| {name} | {fmt_time(med)} | {fmt_time(min(ts))} | {fmt_time(max(ts))} | "
        if throughput:
            row += f"{nbytes / med / 1e9:.2f} | "
        row += (f"{med / ref_med:.2f}x |" if ref_med else "- |")
        lines.append(row)
    return "\n".join(lines)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import pyarrow

    return (f"{os.cpu_count()} cores ({cpu}), {rollup_meminfo() / 2**30:.0f} GiB available, "
            f"Linux {platform.release()}, Python {platform.python_version()}, numpy {np.__version__}, "
            f"pyarrow {pyarrow.__version__}, {subprocess.run(['go', 'version'], capture_output=True, text=True).stdout.strip()}")


def plot(path, e2e):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    names = list(next(iter(e2e.values())))
    sizes = list(e2e)
    for name in names:
        xs = [s for s in sizes if name in e2e[s]]
        ax.plot([SIZES[s] for s in xs], [statistics.median(e2e[s][name]) for s in xs], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks([SIZES[s] for s in sizes], sizes)
    ax.set_xlabel("array size (float64)")
    ax.set_ylabel("seconds, producer has it -> consumer has summed it (median)")
    ax.set_title("npshm end to end vs alternatives (lower is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", action="store_true", help="add 4 GiB")
    ap.add_argument("--quick", action="store_true", help="1 MiB, 1 round (a smoke run)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=8, help="processes for the memory scenario")
    ap.add_argument("--text-mib", type=int, default=1024, help="size of the generated text file set")
    ap.add_argument("--text-only", action="store_true", help="only the text-loading scenario (no --write-docs)")
    ap.add_argument("--pool-only", action="store_true", help="only passing an array to a Pool of 4 spawn workers")
    ap.add_argument("--helper", required=True, help="path of the built gohelper")
    ap.add_argument("--write-docs", action="store_true", help="rewrite docs/BENCHMARKS.md figures and plot")
    args = ap.parse_args()
    sizes = ["1MiB"] if args.quick else ["1MiB", "64MiB", "1GiB"] + (["4GiB"] if args.large else [])
    if args.text_only:
        sizes, args.write_docs = [], False
    rounds = 1 if args.quick else args.rounds
    if args.pool_only:  # issue 10: npshm vs pickling vs SharedMemory by hand (scripts/benchsuite/poolpass.py)
        import poolpass

        raise SystemExit(print(poolpass.section(SIZES[sizes[-1] if args.quick else "1GiB"], rounds)))
    go = GoHelper(args.helper)
    w = Workers(1)
    out, e2e = [], {}
    started = time.time()
    try:
        for size in sizes:
            nbytes = SIZES[size]
            arr = data(nbytes)
            print(f"== {size}: end to end", file=sys.stderr, flush=True)
            go.ask("free")
            cont, skipped = e2e_contenders(go, w, arr, nbytes)
            res = run_rounds(cont, rounds, timed)
            e2e[size] = res
            out.append(table(f"End to end, {size}: the producer has the array -> a numpy (or Go) process has summed it",
                             res, nbytes, "npshm Go->numpy") + "".join(f"\n\n{s}" for s in skipped))
            print(f"== {size}: attach", file=sys.stderr, flush=True)
            cont, cleanup = attach_contenders(go, nbytes, 50 if args.quick else 300)
            res = run_rounds(cont, rounds, lambda f: f())
            cleanup()
            out.append(table(f"Attach an existing {size} array (median of {50 if args.quick else 300} attaches per round)",
                             res, nbytes, "npshm.attach (Python)", throughput=False))
            print(f"== {size}: produce", file=sys.stderr, flush=True)
            res = run_rounds(produce_contenders(go, arr), rounds, lambda f: f())
            out.append(table(f"Producer: {size} in the producer's memory -> a filled segment",
                             res, nbytes, "Python seed recipe (SharedMemory + copy)"))
            print(f"== {size}: put", file=sys.stderr, flush=True)
            path = os.path.join("/tmp", f"npshm_bench_{os.getpid()}.npy")
            np.save(path, arr)
            del arr  # the put contenders need the room
            go.ask("free")
            with open(path, "rb") as f:
                while f.read(1 << 24):  # into the page cache, as a recently written file is
                    pass
            res = run_rounds(put_contenders(path, nbytes), rounds, lambda f: f())
            os.unlink(path)
            out.append(table(f"Put a {size} .npy file into shared memory", res, nbytes, "stdlib SharedMemory+readinto"))
        # The text loader on generated file sets (the seed's genomic rows):
        # small files, as users load them all the time (fixed costs show),
        # and a large set (the parse rate shows).
        small_rows = (1 << 20) // 31 // 2 if args.quick else 20_000_000 // 31  # ~31 bytes a row: 20 MB a file
        out.append(text_case(go, 2, small_rows, rounds))
        total = (1 << 20) if args.quick else args.text_mib << 20
        out.append(text_case(go, 4, total // 36 // 4, rounds))
        go.ask("free")
        if sizes:
            import poolpass

            print(f"== {sizes[-1]}: pass to a Pool of 4 spawn workers", file=sys.stderr, flush=True)
            out.append(poolpass.section(SIZES[sizes[-1]], rounds))
        mem = {}
        if not sizes:
            raise SystemExit(print("\n\n".join(out)))
        big = sizes[-1]
        print(f"== {big}: memory, {args.workers} processes", file=sys.stderr, flush=True)
        mem = memory(go, SIZES[big], args.workers)
        lines = [f"**Memory: {args.workers} numpy processes each summing one {big} array (summed PSS growth)**", "",
                 "| approach | total PSS | x array size |", "|---|---:|---:|"]
        for name, b in mem.items():
            lines.append(f"| {name} | {b / 2**20:.0f} MiB | {b / SIZES[big]:.3f}x |")
        if len(mem) == 1:
            lines.append(f"| each loads its own copy (np.load) | not run: {args.workers} copies exceed free memory | {args.workers:.3f}x (by construction) |")
        out.append("\n".join(lines))
    finally:
        w.close()
        go.close()
    cmd = "scripts/bench" + (" --large" if args.large else "") + (" --quick" if args.quick else "") + \
          (f" --rounds {args.rounds}" if args.rounds != 3 and not args.quick else "")
    report = "\n\n".join(out)
    header = f"Measured {time.strftime('%Y-%m-%d')} with `{cmd}` ({rounds} round(s), {time.time() - started:.0f} s) on: {machine()}."
    print("\n" + header + "\n\n" + report)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "results.json"), "w") as f:
        json.dump({"e2e": e2e, "memory": mem, "machine": machine()}, f, indent=1)
    if args.write_docs:
        doc = os.path.join(ROOT, "docs", "BENCHMARKS.md")
        plot(os.path.join(ROOT, "docs", "benchmarks.png"), e2e)
        with open(doc) as f:
            text = f.read()
        begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
        text = text[: text.index(begin) + len(begin)] + "\n" + header + "\n\n" + report + "\n" + text[text.index(end):]
        with open(doc, "w") as f:
            f.write(text)
        print(f"\nwrote {doc} and docs/benchmarks.png", file=sys.stderr)


if __name__ == "__main__":
    main()
