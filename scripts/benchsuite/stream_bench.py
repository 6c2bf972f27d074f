"""Streams benchmark: npshm streams side by side with multiprocessing.Pipe
(send_bytes), multiprocessing.Queue (ndarray), pyzmq zero-copy PUSH/PULL
over ipc://, and iceoryx2 (publish-subscribe of loaned slices, with an
event service to sleep on) when its Python package is installed.

Throughput: frames/s and GB/s for each frame size, from the producer's
first send to the last reader's last frame (CLOCK_MONOTONIC in every
process). npshm producers copy each frame in (Send / send), readers get a
view and touch one byte; Pipe and Queue readers receive a copy, zmq readers
a zero-copy frame. Latency: 64-byte frames sent 200 us apart, one way, the
frame's send time (npshm: its slot's timestamp) to its receipt, blocking
waits (no spinning) everywhere.

Run by scripts/bench --streams; alone:
  python stream_bench.py --helper PATH_OF_streamhelper [--quick]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import time

import npshm
import numpy as np

SIZES = [(64, "64 B"), (4096, "4 KiB"), (1 << 20, "1 MiB"), (4 << 20, "4 MiB")]
BASELINES = [("pipe", "multiprocessing.Pipe send_bytes"), ("queue", "multiprocessing.Queue ndarray"),
             ("zmq", "pyzmq PUSH/PULL ipc, zero-copy"), ("iox", "iceoryx2 pub/sub + event, loaned")]


def frames_for(size: int, quick: bool) -> int:
    n = {64: 40000, 4096: 20000, 1 << 20: 600, 4 << 20: 200}[size]
    return max(20, n // 10) if quick else n


# --- child roles (run as: python stream_bench.py ROLE ...) --------------------


def py_produce(name, size, frames, slots, readers, gap_us=0):
    src = np.arange(size, dtype=np.uint8)
    with npshm.stream_writer(name, (size,), np.uint8, slots=slots) as w:
        print("ready", flush=True)
        while w.readers < readers:
            time.sleep(0.001)
        t0 = time.monotonic_ns()
        for _ in range(frames):
            if gap_us:
                time.sleep(gap_us / 1e6)
            w.send(src)
    print(t0, flush=True)


def py_consume(name):
    lat = []
    n = end = first = 0
    with npshm.stream_reader(name) as r:
        print("ready", flush=True)
        for a in r:
            first = first or r.seq
            end = time.monotonic_ns()
            lat.append(end - r.timestamp_ns)
            a[0]
            n += 1
    lat.sort()
    p = (lambda q: lat[int(q * (len(lat) - 1))]) if lat else (lambda q: 0)
    print(n, end, p(0.5), p(0.99), first, flush=True)


# --- npshm runs -----------------------------------------------------------------


def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n", cmd
    return p


def npshm_run(helper, producer, consumer, size, frames, readers, gap_us=0, slots=8):
    name = f"npshm_bench_stream_{os.getpid()}"
    me = [sys.executable, __file__]
    pcmd = (helper + ["produce"] if producer == "go" else me + ["py-produce"]) + [name, str(size), str(frames), str(slots), str(readers), str(gap_us)]
    prod = start(pcmd)
    ccmd = helper + ["consume", name] if consumer == "go" else me + ["py-consume", name]
    cons = [start(ccmd) for _ in range(readers)]
    t0 = int(prod.stdout.readline())
    prod.wait()
    ends, p50, p99 = [], [], []
    for c in cons:
        n, end, a, b, *_ = (int(x) for x in c.stdout.readline().split())
        c.wait()
        assert n == frames, (n, frames, _)
        ends.append(end)
        p50.append(a)
        p99.append(b)
    return (max(ends) - t0) / 1e9, max(p50), max(p99)


# --- baselines ------------------------------------------------------------------


def _pipe_reader(conn, frames, out):
    lat, end = [], 0
    for _ in range(frames):
        b = conn.recv_bytes()
        end = time.monotonic_ns()
        lat.append(end - int.from_bytes(b[:8], "little"))
    out.put((end, lat))


def _queue_reader(q, frames, out):
    lat, end = [], 0
    for _ in range(frames):
        a = q.get()
        end = time.monotonic_ns()
        lat.append(end - int(a[:8].view(np.uint64)[0]))
    out.put((end, lat))


def _zmq_reader(addr, frames, out):
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.connect(addr)
    lat, end = [], 0
    for _ in range(frames):
        f = s.recv(copy=False)
        end = time.monotonic_ns()
        a = np.frombuffer(f.buffer, np.uint8)
        lat.append(end - int(a[:8].view(np.uint64)[0]))
    out.put((end, lat))
    s.close()
    ctx.term()


def _iox_setup(name):
    import ctypes

    import iceoryx2 as iox2

    iox2.set_log_level(iox2.LogLevel.Error)  # not "No config file was loaded" on every node
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    svc = (node.service_builder(iox2.ServiceName.new(name)).publish_subscribe(iox2.Slice[ctypes.c_uint8])
           .enable_safe_overflow(False).subscriber_max_buffer_size(8).open_or_create())
    ev = node.service_builder(iox2.ServiceName.new(name + "_ev")).event().open_or_create()
    return iox2, node, svc, ev


def _iox_reader(name, frames, out, ready):
    """iceoryx2: a subscriber (zero-copy sample, viewed as an ndarray) that
    sleeps on an event listener when nothing is there."""
    import ctypes

    iox2, _node, svc, ev = _iox_setup(name)
    sub = svc.subscriber_builder().buffer_size(8).create()
    lis = ev.listener_builder().create()
    ready.put(1)
    lat, end, got = [], 0, 0
    while got < frames:
        s = sub.receive()
        if s is None:
            lis.timed_wait(iox2.Duration.from_millis(100))
            continue
        end = time.monotonic_ns()
        p = s.payload()
        a = np.ctypeslib.as_array((ctypes.c_uint8 * p.len()).from_address(p.as_ptr()))
        lat.append(end - int(a[:8].view(np.uint64)[0]))
        del a
        s.delete()
        got += 1
    out.put((end, lat))


def baseline_run(kind, size, frames, gap_us=0):
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    src = np.arange(max(size, 8), dtype=np.uint8)[:max(size, 8)]
    stamp = src[:8].view(np.uint64)
    if kind == "pipe":
        a, b = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_pipe_reader, args=(a, frames, out))
        p.start()

        def send():
            stamp[0] = time.monotonic_ns()
            b.send_bytes(src)
    elif kind == "queue":
        q = ctx.Queue(maxsize=8)
        p = ctx.Process(target=_queue_reader, args=(q, frames, out))
        p.start()

        def send():
            stamp[0] = time.monotonic_ns()
            q.put(src)
    elif kind == "zmq":
        import zmq

        zctx = zmq.Context()
        s = zctx.socket(zmq.PUSH)
        s.setsockopt(zmq.SNDHWM, 8)
        addr = f"ipc:///tmp/npshm-bench-{os.getpid()}"
        s.bind(addr)
        p = ctx.Process(target=_zmq_reader, args=(addr, frames, out))
        p.start()

        def send():
            stamp[0] = time.monotonic_ns()
            s.send(src.copy(), copy=False)  # a fresh buffer per frame: zmq holds it until sent
    elif kind == "iox":
        import ctypes

        name = f"npshm_bench_iox_{os.getpid()}_{size}_{gap_us}"
        ready = ctx.Queue()
        p = ctx.Process(target=_iox_reader, args=(name, frames, out, ready))
        p.start()
        iox2, _node, svc, ev = _iox_setup(name)
        pub = (svc.publisher_builder().initial_max_slice_len(max(size, 8))
               .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered).create())
        notifier = ev.notifier_builder().create()
        ready.get()

        def send():
            stamp[0] = time.monotonic_ns()
            smp = pub.loan_slice_uninit(max(size, 8))
            ctypes.memmove(smp.payload().as_ptr(), src.ctypes.data, max(size, 8))
            smp.assume_init().send()
            notifier.notify()
    time.sleep(0.3)  # the reader is up and waiting
    if kind == "iox":
        pub.update_connections()
    t0 = time.monotonic_ns()
    for _ in range(frames):
        if gap_us:
            time.sleep(gap_us / 1e6)
        send()
    end, lat = out.get()
    p.join()
    if kind == "zmq":
        s.close()
        zctx.term()
    lat.sort()
    return (end - t0) / 1e9, lat[len(lat) // 2], lat[int(0.99 * (len(lat) - 1))]


def memcpy_gbs(size: int, slots: int = 8) -> float:
    """One core's copy bandwidth for what Send does: one source frame into a
    ring of `slots` destinations (for large frames, a working set beyond the
    caches)."""
    a = np.ones(size, np.uint8)
    ring = [np.ones_like(a) for _ in range(slots)]
    n = max(3 * slots, (512 << 20) // size)
    t = time.perf_counter()
    for k in range(n):
        np.copyto(ring[k % slots], a)
    return size * n / (time.perf_counter() - t) / 1e9


def have(mod: str) -> bool:
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "py-produce":
        py_produce(sys.argv[2], *(int(x) for x in sys.argv[3:]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "py-consume":
        py_consume(sys.argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--helper", required=True, help="path of the built streamhelper")
    ap.add_argument("--quick", action="store_true", help="a tenth of the frames (a smoke run)")
    args = ap.parse_args()
    helper = [args.helper]
    zmq_ok, iox_ok = have("zmq"), have("iceoryx2")
    print(f"# streams: {os.cpu_count()} CPUs, numpy {np.__version__}, Python {sys.version.split()[0]}"
          f"{'' if zmq_ok else ', pyzmq not installed (its rows skipped)'}"
          f"{'' if iox_ok else ', iceoryx2 not installed (its rows skipped)'}; figures vary with the machine's load")
    print(f"{'method':34} {'frame':>6} {'readers':>7} {'frames/s':>11} {'GB/s':>7}")
    for size, label in SIZES:
        frames = frames_for(size, args.quick)
        runs = [("npshm Go -> numpy", "go", "py", 1), ("npshm Go -> numpy", "go", "py", 4),
                ("npshm numpy -> numpy", "py", "py", 1), ("npshm numpy -> numpy", "py", "py", 4),
                ("npshm numpy -> Go", "py", "go", 1), ("npshm Go -> Go", "go", "go", 1)]
        for what, prod, cons, readers in runs:
            secs, _, _ = npshm_run(helper, prod, cons, size, frames, readers)
            print(f"{what:34} {label:>6} {readers:>7} {frames / secs:>11,.0f} {frames * size / secs / 1e9:>7.2f}", flush=True)
        for kind, what in BASELINES:
            if (kind == "zmq" and not zmq_ok) or (kind == "iox" and not iox_ok):
                continue
            n = frames if kind != "queue" else max(20, frames // 4)
            secs, _, _ = baseline_run(kind, size, n)
            print(f"{what:34} {label:>6} {1:>7} {n / secs:>11,.0f} {n * size / secs / 1e9:>7.2f}", flush=True)
        print(f"{'memcpy (np.copyto into an 8-slot ring)':34} {label:>6} {'':>7} {'':>11} {memcpy_gbs(size):>7.2f}", flush=True)
    n = 500 if args.quick else 3000
    print(f"\none-way latency, 64 B frames 200 us apart, {n} frames, blocking waits")
    print(f"{'method':34} {'p50 us':>8} {'p99 us':>8}")
    for what, prod, cons in [("npshm Go -> numpy", "go", "py"), ("npshm numpy -> numpy", "py", "py"),
                             ("npshm numpy -> Go", "py", "go"), ("npshm Go -> Go", "go", "go")]:
        _, p50, p99 = npshm_run(helper, prod, cons, 64, n, 1, gap_us=200)
        print(f"{what:34} {p50 / 1e3:>8.1f} {p99 / 1e3:>8.1f}", flush=True)
    for kind, what in BASELINES:
        if (kind == "zmq" and not zmq_ok) or (kind == "iox" and not iox_ok):
            continue
        _, p50, p99 = baseline_run(kind, 64, n, gap_us=200)
        print(f"{what:34} {p50 / 1e3:>8.1f} {p99 / 1e3:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
