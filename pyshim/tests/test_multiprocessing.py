"""Arrays by reference through multiprocessing, and who frees what.

Every scenario runs as a script in a fresh interpreter (spawn and
forkserver re-import __main__), under each start method, with NPSHM_DIR
pointed at a private directory: whatever is in it at the end was left
behind. No mocks: real Pools, Processes, Queues and executors.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import npshm

METHODS = ["fork", "spawn", "forkserver"]


@pytest.fixture
def shm_dir():
    d = tempfile.mkdtemp(prefix=f"npshm_pytest_{os.getpid()}_", suffix=".d", dir="/dev/shm")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_script(tmp_path, code, *args, env_dir=None, timeout=180):
    """Run code as a script (so spawn children can import its functions);
    the last line of stdout is JSON."""
    script = tmp_path / "scenario.py"
    script.write_text(code)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(npshm.__file__)), env.get("PYTHONPATH", "")])
    if env_dir:
        env["NPSHM_DIR"] = env_dir
    p = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert p.returncode == 0, f"scenario failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


PASSING = r'''
import concurrent.futures as cf, json, multiprocessing as mp, sys
import numpy as np, npshm
from npshm._reduce import mapping_of

def look(a):
    """(by reference?, writeable, sum, a[...] as list of the first values)"""
    return [mapping_of(a) is not None, bool(a.flags.writeable), float(np.asarray(a, dtype=float).sum())]

def write(a, v):
    a[(0,) * a.ndim] = v
    return "ok"

def proc_write(a, v, q):
    q.put(write(a, v))

def proc_write_shared(s, v, q):
    s.array[0] = v
    q.put(s.anonymous)

def queue_back(qin, qout):
    a = qin.get()
    qout.put(a[1:])  # a view of what arrived goes back, by reference too

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    out = {}
    rec = np.zeros(4, dtype=[("x", "<i4"), ("y", "<f8")])
    rec["x"], rec["y"] = [1, 2, 3, 4], [0.5, 1.5, 2.5, 3.5]
    with npshm.share(np.arange(24.0).reshape(4, 6)) as s, npshm.share(rec) as r:
        a = s.array
        anon = npshm.share_anonymous(np.arange(10, dtype="i8"))
        views = {"whole": a, "slice": a[1:3, ::2], "transpose": a.T, "column": a[:, 5], "reversed": a[::-1, ::-1],
                 "field": r.array["y"], "readonly_attach": npshm.attach(s.name), "readonly": s.readonly,
                 "anonymous": anon.array[2:], "plain": np.arange(5.0)}
        with ctx.Pool(2) as pool:
            got = pool.map(look, list(views.values()))
            out["pool"] = dict(zip(views, got))
            pool.apply(write, (a[2:, 3:], -1.0))
            pool.apply(write, (anon.array[5:], -7))
            out["pool_write"] = [float(a[2, 3]), int(anon.array[5])]
            try:
                pool.apply(write, (s.readonly, 1.0))
                out["readonly_write"] = "allowed"
            except ValueError as e:
                out["readonly_write"] = "refused: " + str(e)
        with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
            out["executor"] = ex.submit(look, a[::2]).result()
            ex.submit(write, a[3:], -3.0).result()
            out["executor_write"] = float(a[3, 0])
        q = ctx.Queue()
        p = ctx.Process(target=proc_write, args=(a[1:, 1:], -2.0, q))
        p.start(); out["process"] = q.get(timeout=60); p.join()
        out["process_write"] = float(a[1, 1])
        p = ctx.Process(target=proc_write, args=(anon.array[8:], -8, q))
        p.start(); q.get(timeout=60); p.join()
        out["process_anon_write"] = int(anon.array[8])
        p = ctx.Process(target=proc_write_shared, args=(anon, -9, q))
        p.start(); out["process_anon_shared"] = q.get(timeout=60); p.join()
        out["process_anon_shared_write"] = int(anon.array[0])
        qin, qout = ctx.Queue(), ctx.Queue()
        p = ctx.Process(target=queue_back, args=(qin, qout))
        p.start(); qin.put(a[2]); back = qout.get(timeout=60); p.join()
        back[0] = 99.0
        out["queue_roundtrip"] = [mapping_of(back) is not None, float(a[2, 1])]
        c1, c2 = ctx.Pipe()
        c1.send(a.T[1:])
        got = c2.recv()
        out["pipe_same_memory"] = bool(np.shares_memory(got, a)) or float(got[0, 0]) == float(a[0, 1])
        got[0, 0] = 55.0
        out["pipe_write"] = float(a[0, 1])
        anon.close()
    print(json.dumps(out))
'''


@pytest.mark.parametrize("method", METHODS)
def test_arrays_travel_by_reference(method, tmp_path, shm_dir):
    out, _ = run_script(tmp_path, PASSING, method, env_dir=shm_dir)
    pool = out["pool"]
    for k in ["whole", "slice", "transpose", "column", "reversed", "field", "readonly_attach", "readonly", "anonymous"]:
        assert pool[k][0], f"{k} was copied, not sent by reference"
    assert not pool["plain"][0], "a plain array must keep numpy's pickling"
    a = np.arange(24.0).reshape(4, 6)
    assert pool["whole"][2] == a.sum() and pool["slice"][2] == a[1:3, ::2].sum() and pool["reversed"][2] == a.sum()
    assert pool["column"][2] == a[:, 5].sum() and pool["field"][2] == 8.0 and pool["anonymous"][2] == sum(range(2, 10))
    assert [pool[k][1] for k in ("whole", "slice", "readonly_attach", "readonly", "plain")] == [True, True, False, False, True]
    assert out["pool_write"] == [-1.0, -7]
    assert out["readonly_write"].startswith("refused") and "read-only" in out["readonly_write"]
    assert out["executor"][0] and out["executor_write"] == -3.0
    assert out["process"] == "ok" and out["process_write"] == -2.0 and out["process_anon_write"] == -8
    assert out["process_anon_shared"] is True and out["process_anon_shared_write"] == -9
    assert out["queue_roundtrip"] == [True, 99.0]
    assert out["pipe_write"] == 55.0
    assert os.listdir(shm_dir) == []


def test_plain_pickle_still_copies():
    import pickle

    with npshm.share(np.arange(4.0)) as s:
        back = pickle.loads(pickle.dumps(s.array[1:]))
        back[0] = -1
        assert s.array[1] == 1.0 and back.flags.writeable


OWNERSHIP = r'''
import json, multiprocessing as mp, os, sys, gc
import numpy as np, npshm

def with_block(n):
    with npshm.share(np.full(n, 2.0)) as s:
        return s

def without_with(n):
    return npshm.share(np.full(n, 3.0))

def anonymous(n):
    return npshm.share_anonymous(np.full(n, 4.0))

def array_of_share(n):
    s = npshm.share(np.full(n, 5.0))
    return s.array  # by reference; the worker still owns s (gc reclaims it once the worker is gone)

def boom(n):
    if n == 2:
        raise RuntimeError("worker failed")
    with npshm.share(np.full(n, 1.0)) as s:
        return s

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    d = npshm.shm_dir()
    out = {}
    with ctx.Pool(2) as pool:
        r = pool.map(with_block, [3, 4, 5])
        out["with"] = [float(x.array.sum()) for x in r] + [x.name for x in r]
        out["with_left"] = sorted(os.listdir(d))
        del r
        r = pool.map(without_with, [3, 4])
        out["without"] = [float(x.array.sum()) for x in r]
        out["without_named"] = len(os.listdir(d))
        arrays = [x.array for x in r]
        del r
        gc.collect()
        out["after_gc"] = sorted(os.listdir(d))
        out["arrays_still_valid"] = [float(a.sum()) for a in arrays]
        del arrays
        with pool.apply(without_with, (6,)) as s:
            out["with_in_parent"] = float(s.array.sum())
        out["after_with"] = sorted(os.listdir(d))
        r = pool.map(anonymous, [2, 3])
        out["anonymous"] = [float(x.array.sum()) for x in r]
        del r
        try:
            pool.map(boom, [1, 2, 3])
        except RuntimeError as e:
            out["raised"] = str(e)
        gc.collect()
        out["after_raise"] = sorted(os.listdir(d))
    print(json.dumps(out))
'''


@pytest.mark.dir_only  # counts the segment directory and runs gc: shm_open can list neither
@pytest.mark.parametrize("method", METHODS)
def test_worker_returns_shared_parent_frees(method, tmp_path, shm_dir):
    out, _ = run_script(tmp_path, OWNERSHIP, method, env_dir=shm_dir)
    assert out["with"][:3] == [6.0, 8.0, 10.0] and out["with"][3:] == ["", "", ""]
    assert out["with_left"] == []
    assert out["without"] == [9.0, 12.0] and out["without_named"] == 2  # named, owned by the parent now
    assert out["after_gc"] == [], "the parent must unlink what it received once it drops the Shared"
    assert out["arrays_still_valid"] == [9.0, 12.0]
    assert out["with_in_parent"] == 18.0 and out["after_with"] == []
    assert out["anonymous"] == [8.0, 12.0]
    assert out["raised"] == "worker failed" and out["after_raise"] == []
    assert os.listdir(shm_dir) == []


HANG = r'''
import concurrent.futures as cf, json, multiprocessing as mp, sys
import numpy as np, npshm, npshm._reduce as r

class Gone:
    """Pickles as an array whose segment does not exist when it arrives."""
    def __reduce__(self):
        ref = ("path", npshm.shm_dir() + "/npshm_no_such_segment", 0, 0, False)
        return (r.rebuild_array, (ref, 0, (3,), (8,), np.dtype("f8"), True))

def result_gone(_):
    return Gone()

def use(a):
    try:
        return float(a.sum())
    except npshm.SegmentError as e:
        return "raised: " + str(e)

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    out = {}
    with ctx.Pool(2) as pool:
        got = pool.map(result_gone, [1, 2])  # unpickled in Pool's result thread
        out["types"] = [type(g).__name__ for g in got]
        try:
            got[0].sum()
        except npshm.SegmentError as e:
            out["use_raises"] = str(e)
        out["task_side"] = pool.map(use, [Gone()])  # unpickled by the worker reading its task
        out["pool_still_works"] = pool.map(use, [np.ones(3)])
    with cf.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        out["executor"] = type(ex.submit(result_gone, 1).result()).__name__
        out["executor_still_works"] = ex.submit(use, np.ones(2)).result()
    print(json.dumps(out))
'''


@pytest.mark.parametrize("method", METHODS)
def test_unpickle_that_cannot_attach_never_hangs(method, tmp_path):
    out, _ = run_script(tmp_path, HANG, method, timeout=120)
    assert out["types"] == ["Unattached", "Unattached"]
    assert "could not be attached" in out["use_raises"] and "npshm_no_such_segment" in out["use_raises"]
    assert out["task_side"][0].startswith("raised: array sent by reference could not be attached")
    assert out["pool_still_works"] == [3.0]
    assert out["executor"] == "Unattached" and out["executor_still_works"] == 2.0


SEED000 = r'''
import concurrent.futures as cf, gc, json, multiprocessing as mp, os, signal, sys
import numpy as np, npshm

def load(path):
    """The seed-000 worker: parse one text file, hand the array back."""
    if path.endswith("kill.txt"):
        s = npshm.share(np.loadtxt(path))  # a segment made, then the worker dies
        os.kill(os.getpid(), signal.SIGKILL)
    with npshm.share(np.loadtxt(path)) as s:
        return s

def load_fast(path):
    return npshm.loadtxt(path)  # owns its memory, no name: travels by descriptor

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    files = sys.argv[2:]
    good, bad, kill = files[:4], files[4], files[5]
    d = npshm.shm_dir()
    out = {}
    with ctx.Pool(2) as pool:
        arrays = [s.array for s in pool.map(load, good)]
        out["sums"] = [float(a.sum()) for a in arrays]
        out["fast_sums"] = [float(a.sum()) for a in pool.map(load_fast, good)] if os.environ.get("NPSHM_HAVE_BIN") else out["sums"]
        try:
            pool.map(load, good + [bad])
        except ValueError as e:
            out["bad"] = type(e).__name__
        del arrays
        gc.collect()
        out["left_after_pool"] = sorted(os.listdir(d))
        # a killed worker: stock Pool never learns its task is lost, so the
        # wait is bounded by a timeout; the executor reports it at once
        r = pool.map_async(load, [kill])
        try:
            r.get(timeout=15)
        except mp.TimeoutError:
            out["pool_kill"] = "timeout"
        pool.terminate()
    with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        try:
            list(ex.map(load, good + [kill]))
        except cf.process.BrokenProcessPool:
            out["executor_kill"] = "BrokenProcessPool"
    gc.collect()
    out["left_after_kill"] = len(os.listdir(d))
    print(json.dumps(out))
'''


@pytest.mark.dir_only  # counts the segment directory and runs gc: shm_open can list neither
def test_seed000_pool_pattern(tmp_path, shm_dir):
    """Four text files through a Pool, a failing file and a SIGKILLed worker:
    no hang, and after `npshm gc` nothing is left."""
    from npshm._loadtxt import find_binary

    try:
        binary = find_binary()
    except FileNotFoundError:
        pytest.skip("the npshm binary is not built (scripts/setup builds it)")
    files = []
    for i in range(4):
        f = tmp_path / f"part{i}.txt"
        np.savetxt(f, np.arange(12.0).reshape(4, 3) + i)
        files.append(str(f))
    (tmp_path / "bad.txt").write_text("1 2 3\n4 five 6\n")
    (tmp_path / "kill.txt").write_text("1 2\n")
    files += [str(tmp_path / "bad.txt"), str(tmp_path / "kill.txt")]
    os.environ["NPSHM_HAVE_BIN"] = "1"
    try:
        out, _ = run_script(tmp_path, SEED000, "spawn", *files, env_dir=shm_dir, timeout=240)
    finally:
        del os.environ["NPSHM_HAVE_BIN"]
    want = [float((np.arange(12.0) + i).sum()) for i in range(4)]
    assert out["sums"] == want and out["fast_sums"] == want
    assert out["bad"] == "ValueError" and out["left_after_pool"] == []
    assert out["pool_kill"] == "timeout" and out["executor_kill"] == "BrokenProcessPool"
    # each killed worker leaves the segment it was filling (the executor also
    # kills the siblings of a dead worker, which may leave theirs), for gc
    assert out["left_after_kill"] >= 2
    p = subprocess.run([binary, "gc"], capture_output=True, text=True, env={**os.environ, "NPSHM_DIR": shm_dir})
    assert p.returncode == 0, p.stderr
    assert os.listdir(shm_dir) == [], f"npshm gc left {os.listdir(shm_dir)}"


PSS = r'''
import json, multiprocessing as mp, sys, time
import numpy as np, npshm

def rollup(pid="self"):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return {l.split(":")[0]: int(l.split()[1]) * 1024 for l in f if l.split()[1:2] and l.split()[1].isdigit()}

def worker(a, ready, go):
    float(a.sum())  # touch every page
    ready.put(1)
    go.get()

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    n = int(sys.argv[1])
    with npshm.share(np.ones(n // 8 if sys.argv[2] == "npshm" else 1)) as s:
        arr = s.array
        ready, go = ctx.Queue(), ctx.Queue()
        ps = [ctx.Process(target=worker, args=(arr, ready, go)) for _ in range(6)]
        for p in ps:
            p.start()
        for _ in ps:
            ready.get(timeout=120)
        total = rollup()["Pss"] + sum(rollup(p.pid)["Pss"] for p in ps)
        for _ in ps:
            go.put(1)
        for p in ps:
            p.join()
    print(json.dumps({"pss": total}))
'''


def test_pss_six_spawn_workers_share_one_copy(tmp_path):
    """Six spawn workers given a 512 MiB array as a Process argument: the
    processes' summed PSS grows by the array's size once (within 1.1x), not
    six times. Measured against the same run with a one-element array."""
    size = 512 << 20
    if npshm._segment.shm_dir() == "/dev/shm" and shutil.disk_usage("/dev/shm").free < 2 * size:
        pytest.skip("not enough room in /dev/shm")
    base, _ = run_script(tmp_path, PSS, str(size), "baseline")
    got, _ = run_script(tmp_path, PSS, str(size), "npshm")
    cost = got["pss"] - base["pss"]
    print(f"summed PSS of the parent and 6 spawn workers: {cost / size:.2f}x the 512 MiB array")
    assert cost < 1.1 * size, f"sharing cost {cost / size:.2f}x the array's size"
    assert cost > 0.9 * size, "the array's pages were not touched"
