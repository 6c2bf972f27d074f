"""npshm.dask against a real distributed.LocalCluster (worker processes, on
127.0.0.1): one copy per host, data sent once per host, release leaves
nothing, a killed worker or client leaves only what `npshm gc` reclaims.
Hosts are simulated by workers with different NPSHM_DIR."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("dask.array")
pytestmark = pytest.mark.dir_only  # hosts are segment directories; copies carry xattr tokens

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from conftest import PREFIX  # noqa: E402
from distributed import Client, LocalCluster, Nanny  # noqa: E402

import npshm  # noqa: E402
import npshm.dask as nd  # noqa: E402
from npshm._loadtxt import find_binary  # noqa: E402

MiB = 1 << 20


def host_dir():
    """A segment directory standing for one host (a tmpfs directory)."""
    return tempfile.mkdtemp(prefix=PREFIX + "dask_", dir="/dev/shm")


def worker_options(d):
    return {"nthreads": 1, "host": "127.0.0.1", "env": {"NPSHM_DIR": d}, "memory_limit": 0,
            "dashboard_address": "127.0.0.1:0", "silence_logs": 40}


def start(n, d):
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", memory_limit=0, env={"NPSHM_DIR": d}, silence_logs=40)
    return cluster, Client(cluster)


def add_worker(cluster, client, name, d):
    """A worker of another host: its own segment directory."""
    cluster.worker_spec[name] = {"cls": Nanny, "options": worker_options(d)}
    cluster.sync(cluster._correct_state)
    client.wait_for_workers(len(cluster.worker_spec), timeout=60)


def dirs_of(client):
    return client.run(lambda: os.environ["NPSHM_DIR"])


def pids_of(client):
    return client.run(os.getpid)


def probe(a, k=0.0):
    """What a task sees: the array's sum, whether it is a read-only view of
    an npshm mapping, and which file (device, inode) that is."""
    mm = npshm._reduce.mapping_of(a)
    return float(a.sum()) + k, bool(a.flags.writeable), None if mm is None else (mm.dev, mm.ino)


@pytest.fixture
def client_dir(monkeypatch):
    d = host_dir()
    monkeypatch.setenv("NPSHM_DIR", d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_every_path_gets_the_attached_array(client_dir):
    x = np.arange(100_000, dtype=np.float64)
    want = float(x.sum())
    cluster, client = start(2, client_dir)
    try:
        with nd.scatter(client, x) as h:
            assert h.shape == x.shape and h.dtype == x.dtype and h.nbytes == x.nbytes
            got = [client.submit(probe, h).result()]
            mapped = client.gather(client.map(lambda k, m: probe(m, k), [1.0, 2.0, 3.0], m=h))
            got += [(s - k, w, i) for k, (s, w, i) in zip([1.0, 2.0, 3.0], mapped)]
            got.append(dask.delayed(probe)(h).compute())
            ino = os.stat(os.path.join(client_dir, h.name)).st_ino
            for s, writeable, ident in got:
                assert s == want and not writeable and ident is not None and ident[1] == ino
            y = da.ones(1000, chunks=250)
            head = float(x[:250].sum())
            assert float(y.map_blocks(lambda b, m: b * m[:250], m=h, dtype=float).sum().compute()) == 4 * head
            assert float(da.map_blocks(lambda b, m: b + m[:250], y, h, dtype=float).sum().compute()) == 1000 + 4 * head
            assert h.fetches == 0  # every worker shares the client's directory
            # the graph carries a reference, not the array
            import pickle
            assert len(pickle.dumps(h)) < 1024
        assert sorted(os.listdir(client_dir)) == []
        # a released handle's tasks fail with a clear error, not a hang
        with pytest.raises(npshm.SegmentError, match="released|no segment|fetch"):
            client.submit(probe, h, pure=False).result(timeout=60)
    finally:
        client.close()
        cluster.close()
    assert os.listdir(client_dir) == []


def test_name_taken_and_object_arrays(client_dir):
    cluster, client = start(1, client_dir)
    try:
        with nd.scatter(client, np.ones(4), name="npshm_pytest_taken") as h:
            assert h.name == "npshm_pytest_taken"
            with pytest.raises(FileExistsError, match="npshm_pytest_taken"):
                nd.scatter(client, np.ones(4), name="npshm_pytest_taken")
        with pytest.raises(ValueError, match="object"):
            nd.scatter(client, np.array([object()]))
        # a different array under the name on a worker's host is refused, not attached
        npshm.publish("npshm_pytest_other", np.zeros(3))
        try:
            client_b = nd._Ref("npshm_pytest_other", "0" * 32, np.dtype(float), (4,), False, 0, ("127.0.0.1", 1))
            with pytest.raises(npshm.SegmentError, match="holds another array"):
                client.submit(nd._materialize, client_b, pure=False).result(timeout=60)
        finally:
            npshm.unlink("npshm_pytest_other")
    finally:
        client.close()
        cluster.close()
    assert os.listdir(client_dir) == []


def rollup(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no Pss in smaps_rollup")


def pss(pids):
    return sum(rollup(p) for p in pids)


def touch(a):
    return float(a[:: 4096 // a.itemsize].sum())  # every page


def own_pss_after(a):
    """Runs in a task: this worker's PSS with the argument alive (an array
    sent in the graph is the worker's private memory)."""
    touch(a)
    return rollup(os.getpid())


@pytest.mark.filterwarnings("ignore:Sending large graph")
def test_pss_one_copy_per_host_vs_broadcast_and_graph(client_dir):
    """4 worker processes, one host, a 512 MiB array: summed worker PSS
    growth is about one array with npshm, about four with client.scatter
    (broadcast=True) and with the array passed in the graph."""
    n = 512 * MiB // 8
    x = np.arange(n, dtype=np.float64)
    want = touch(x)
    cluster, client = start(4, client_dir)
    try:
        workers = sorted(pids_of(client))
        pids = list(pids_of(client).values())
        before = pss(pids)
        t = time.perf_counter()
        with nd.scatter(client, x) as h:
            sums = client.gather([client.submit(touch, h, workers=[w], pure=False) for w in workers])
            assert sums == [want] * 4
            grown_npshm = pss(pids) - before
            print(f"\nnpshm: {time.perf_counter() - t:.1f} s")
        before = pss(pids)
        t = time.perf_counter()
        fut = client.scatter(x, broadcast=True)
        sums = client.gather([client.submit(touch, fut, workers=[w], pure=False) for w in workers])
        assert sums == [want] * 4
        grown_broadcast = pss(pids) - before
        print(f"\nbroadcast: {time.perf_counter() - t:.1f} s")
        del fut
        deadline = time.time() + 30  # the workers free the broadcast copies asynchronously
        while pss(pids) > before + x.nbytes // 2 and time.time() < deadline:
            time.sleep(0.1)
        before = {w: rollup(p) for w, p in pids_of(client).items()}
        t = time.perf_counter()
        after = client.gather([client.submit(own_pss_after, x, workers=[w], pure=False) for w in workers])
        print(f"graph: {time.perf_counter() - t:.1f} s")
        grown_graph = sum(after) - sum(before.values())
    finally:
        client.close()
        cluster.close()
    ratio = {k: v / x.nbytes for k, v in
             (("npshm", grown_npshm), ("broadcast", grown_broadcast), ("graph", grown_graph))}
    print(f"\nsummed PSS growth of 4 workers / 512 MiB array: {ratio}")
    assert ratio["npshm"] <= 1.2
    assert ratio["broadcast"] >= 3.0  # the measurement sees copies
    assert ratio["graph"] >= 3.0
    assert os.listdir(client_dir) == []


def run_gc(d):
    try:
        binary = find_binary()
    except FileNotFoundError:
        pytest.skip("the npshm binary is not built (scripts/setup builds it)")
    p = subprocess.run([binary, "gc"], capture_output=True, text=True, env={**os.environ, "NPSHM_DIR": d})
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_two_hosts_one_copy_each_sent_once(client_dir):
    """Host A: the client and 2 workers; host B: 2 workers with another
    segment directory. Each host holds exactly one copy, B's fetched once;
    a worker joining later attaches on first use; a third host fetches once
    more; a killed worker leaves only what gc reclaims; release leaves
    nothing on any host."""
    dir_b, dir_c = host_dir(), host_dir()
    x = np.arange(4 * MiB // 8, dtype=np.float64)
    want = float(x.sum())
    cluster, client = start(2, client_dir)
    try:
        add_worker(cluster, client, "b0", dir_b)
        add_worker(cluster, client, "b1", dir_b)
        where = dirs_of(client)
        with nd.scatter(client, x) as h:
            seen = {w: client.submit(probe, h, workers=[w], pure=False).result() for w in where}
            assert all(s == want and not wr for s, wr, _ in seen.values())
            files = {d: {ident for w, (_, _, ident) in seen.items() if where[w] == d} for d in (client_dir, dir_b)}
            assert all(len(f) == 1 for f in files.values()), files  # one file per host, shared by its workers
            assert files[client_dir] != files[dir_b]
            assert os.listdir(client_dir) == [h.name]
            assert sorted(os.listdir(dir_b)) == sorted([h.name, f".npshm-dask-{h._ref.token}.lock"])
            assert h.fetches == 1  # host B fetched once, host A never

            # a worker of host B joining later attaches the copy already there
            add_worker(cluster, client, "b2", dir_b)
            w = next(a for a, d in dirs_of(client).items() if a not in where)
            assert client.submit(probe, h, workers=[w], pure=False).result()[2] in files[dir_b]
            assert h.fetches == 1

            # a third host: one more fetch; its worker is then killed
            add_worker(cluster, client, "c0", dir_c)
            where = dirs_of(client)
            wc = next(a for a, d in where.items() if d == dir_c)
            assert client.submit(probe, h, workers=[wc], pure=False).result()[0] == want
            assert h.fetches == 2
            pid = pids_of(client)[wc]
            os.kill(pid, signal.SIGKILL)
            deadline = time.time() + 30
            while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
                time.sleep(0.05)
            assert len(os.listdir(dir_c)) == 2  # the copy and the lock, whose creator is gone
            run_gc(dir_c)
            assert os.listdir(dir_c) == []
            run_gc(dir_b)  # B's creator still runs and holds it: gc keeps it
            assert h.name in os.listdir(dir_b)
            # the nanny restarts the worker: it fetches again on first use
            wc = None
            while wc is None and time.time() < deadline + 30:
                time.sleep(0.1)
                wc = next((a for a, d in dirs_of(client).items() if d == dir_c and pids_of(client)[a] != pid), None)
            assert wc is not None, "the nanny did not restart the killed worker"
            assert client.submit(probe, h, workers=[wc], pure=False).result()[0] == want
            assert h.fetches == 3
        for d in (client_dir, dir_b, dir_c):
            assert os.listdir(d) == [], d
    finally:
        client.close()
        cluster.close()
        for d in (dir_b, dir_c):
            shutil.rmtree(d, ignore_errors=True)


CLIENT_DIES = r'''
import os, sys
import numpy as np
from distributed import Client
import npshm.dask as nd
client = Client(sys.argv[1])
h = nd.scatter(client, np.arange(1000.0))
print(client.gather(client.map(lambda i, a: float(a.sum()), range(8), a=h, pure=False)), flush=True)
os._exit(0)  # no release, no close
'''


def test_client_dies_gc_reclaims_after_workers(client_dir, tmp_path):
    """A client that exits without release leaves copies that the workers
    still hold (gc keeps them); once the workers exit, gc reclaims all."""
    dir_b = host_dir()
    try:
        cluster, client = start(1, client_dir)
        try:
            add_worker(cluster, client, "b0", dir_b)
            script = tmp_path / "client.py"
            script.write_text(CLIENT_DIES)
            env = {**os.environ, "NPSHM_DIR": client_dir, "PYTHONPATH": os.pathsep.join(sys.path)}
            p = subprocess.run([sys.executable, str(script), cluster.scheduler_address], capture_output=True,
                               text=True, env=env, timeout=120)
            assert p.returncode == 0, p.stderr
            assert p.stdout.strip() == str([499500.0] * 8)
            assert len(os.listdir(client_dir)) == 1 and len(os.listdir(dir_b)) == 2
            run_gc(client_dir)
            run_gc(dir_b)
            assert len(os.listdir(client_dir)) == 1 and len(os.listdir(dir_b)) == 2  # workers hold them: gc keeps them
        finally:
            client.close()
            cluster.close()
        run_gc(client_dir)
        run_gc(dir_b)
        assert os.listdir(client_dir) == [] and os.listdir(dir_b) == []
    finally:
        shutil.rmtree(dir_b, ignore_errors=True)


def test_from_segments_zero_copy(client_dir):
    parts = [np.arange(i * 300, (i + 1) * 300, dtype=np.int64).reshape(100, 3) for i in range(3)]
    names = [f"{PREFIX}part{i}" for i in range(3)]
    for n, p in zip(names, parts):
        npshm.publish(n, p)
    try:
        whole = np.concatenate(parts)
        y = nd.from_segments(names, chunks=40)
        assert y.shape == (300, 3) and y.dtype == np.int64
        assert y.numblocks == (9, 1)
        np.testing.assert_array_equal(y.compute(scheduler="sync"), whole)
        cluster, client = start(2, client_dir)
        try:
            assert int(y.sum().compute()) == int(whole.sum())
            views = y.map_blocks(lambda b: np.array([[npshm._reduce.mapping_of(b) is not None]]),
                                 chunks=(1, 1), dtype=bool).compute()
            assert views.all()  # every block a view of a segment: nothing copied
        finally:
            client.close()
            cluster.close()
        npshm.publish(f"{PREFIX}other", np.zeros((5, 4), dtype=np.int64))
        with pytest.raises(ValueError, match="does not join"):
            nd.from_segments([names[0], f"{PREFIX}other"])
        with pytest.raises(FileNotFoundError):
            nd.from_segments([f"{PREFIX}missing"])
    finally:
        for n in names + [f"{PREFIX}other"]:
            try:
                npshm.unlink(n)
            except FileNotFoundError:
                pass

