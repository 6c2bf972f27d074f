"""The numpy side of the Go cross-language tests (tests/*_test.go).

    xlang.py read NAME      attach NAME three ways, check they agree, print JSON
    xlang.py share          share the arrays of make_arrays(), print descriptors, wait for a line on stdin
    xlang.py live NAME      attach writable; follow the write protocol on stdin/stdout
    xlang.py attach NAME    attach with the shim, print the sum, exit
    xlang.py hold NAME      attach, print "attached", wait until stdin closes (or SIGKILL)
    xlang.py foreign        create a segment with the stdlib's SharedMemory, print its name, exit
    xlang.py lines          attach each descriptor line on stdin, print its sum
    xlang.py recv FD        receive arrays on Unix socket FD, print each sum, send one back
    xlang.py loadtxt        for each JSON case on stdin, compare np.loadtxt with the loaded array
"""
import hashlib
import io
import json
import os
import sys

import numpy as np

import npshm


def describe(a):
    return {
        "descr": repr(np.lib.format.dtype_to_descr(a.dtype)),
        "shape": list(a.shape),
        "fortran": bool(a.flags.f_contiguous and not a.flags.c_contiguous and a.ndim > 1),
        "sha256": hashlib.sha256(a.tobytes(order="A")).hexdigest(),
    }


def read(name):
    path = os.path.join(npshm.shm_dir(), name)
    # 1. the stdlib's SharedMemory and numpy's own header reader
    from multiprocessing import resource_tracker, shared_memory

    shm = shared_memory.SharedMemory(name=name)
    try:  # this process only reads: keep the stdlib's tracker from unlinking it at exit
        resource_tracker.unregister(shm._name, "shared_memory")
    except Exception:
        pass
    f = io.BytesIO(bytes(shm.buf[:65536]))
    major, _ = np.lib.format.read_magic(f)
    reader = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = reader(f)
    stdlib = np.ndarray(shape, dtype, buffer=shm.buf, offset=f.tell(), order="F" if fortran else "C")
    # 2. np.load with mmap_mode
    mapped = np.load(path, mmap_mode="r")
    # 3. the shim
    shim = npshm.attach(name)
    views = [stdlib, mapped, shim]
    for v in views[1:]:
        assert v.dtype == stdlib.dtype and v.shape == stdlib.shape, (v.dtype, v.shape)
        assert v.tobytes(order="A") == stdlib.tobytes(order="A")
    # byte-identical to np.save
    buf = io.BytesIO()
    np.save(buf, shim)
    with open(path, "rb") as fh:
        seg = fh.read()
    out = describe(shim)
    out["same_as_np_save"] = seg[: len(buf.getvalue())] == buf.getvalue() and len(seg) == len(buf.getvalue())
    out["repr"] = repr(shim.tolist()) if shim.size <= 64 else ""
    del stdlib, views
    shm.close()
    print(json.dumps(out))


def make_arrays():
    rec = np.zeros(3, dtype=[("chr", "S10"), ("pos", "<i4"), ("pct", "<f4"), ("c", "<i4"), ("t", "<i4")])
    rec["chr"] = [b"chr1", b"chrX", b"chr22_KI270"]
    rec["pos"] = [12345, -1, 2**31 - 1]
    rec["pct"] = [0.25, 1.0 / 3.0, 100.0]
    rec["c"], rec["t"] = [1, 2, 3], [4, 5, 6]
    return {
        "f8": np.arange(12.0).reshape(3, 4) / 8,
        "i4F": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        ">u2": np.arange(5, dtype=">u2"),
        "0-d": np.array(3.5),
        "empty": np.zeros((0, 4), np.float32),
        "record": rec,
        "U3": np.array(["ab", "xyz", ""]),
    }


def share():
    shared = []
    for key, arr in make_arrays().items():
        s = npshm.share(arr)
        shared.append(s)
        print(json.dumps({"key": key, "descriptor": s.descriptor, **describe(arr)}), flush=True)
    # a segment made with the stdlib, holding np.save's bytes plus slack
    from multiprocessing import shared_memory

    b = io.BytesIO()
    np.save(b, np.arange(7, dtype=np.int64))
    raw = b.getvalue()
    shm = shared_memory.SharedMemory(create=True, size=len(raw) + 100)
    shm.buf[: len(raw)] = raw
    print(json.dumps({"key": "stdlib", "descriptor": {"name": shm.name}, **describe(np.arange(7, dtype=np.int64))}), flush=True)
    sys.stdin.readline()
    for s in shared:
        s.close()
        s.unlink()
    shm.close()
    shm.unlink()


def live(name):
    a = npshm.attach(name, writable=True)
    print("attached", flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "get":
            print(repr(float(a[int(args[0])])), flush=True)
        elif cmd == "set":
            a[int(args[0])] = float(args[1])
            print("ok", flush=True)
        elif cmd == "quit":
            break


def attach(name):
    print(npshm.attach(name).sum())


def hold(name):
    a = npshm.attach(name)
    print("attached", float(a.sum()), flush=True)
    sys.stdin.read()


def foreign():
    from multiprocessing import resource_tracker, shared_memory

    shm = shared_memory.SharedMemory(create=True, size=4096)
    resource_tracker.unregister(shm._name, "shared_memory")  # let it outlive us, as a leak would
    shm.buf[:6] = b"\x93NUMPY"
    print(shm.name)
    shm.close()


def lines():
    for a in npshm.attach_lines():
        print(float(a.sum()), flush=True)


def recv(fd):
    import socket

    sock = socket.socket(fileno=int(fd))
    a = npshm.recv(sock)
    print(float(a.sum()), a.dtype.str, list(a.shape), flush=True)
    npshm.send(sock, np.arange(6, dtype=np.int32).reshape(2, 3) * 10)
    sock.close()


def loadtxt():
    """Each stdin line: {"case", "paths", "kwargs", "descriptor"}. Expected is
    np.loadtxt on the file (or the files' concatenated text); print one JSON verdict."""
    import warnings

    warnings.simplefilter("ignore")  # "input contained no data"
    for line in sys.stdin:
        c = json.loads(line)
        kw = dict(c["kwargs"])
        if "dtype" in kw and isinstance(kw["dtype"], list):
            kw["dtype"] = [tuple(f) for f in kw["dtype"]]
        if "usecols" in kw:
            kw["usecols"] = tuple(kw["usecols"])
        if len(c["paths"]) == 1:  # numpy reads the file itself: its text mode, universal newlines, .gz
            want = np.loadtxt(c["paths"][0], encoding="utf-8", **kw)
        else:  # the files' text (as np.loadtxt reads each) concatenated
            import gzip
            text = "".join((gzip.open if p.endswith(".gz") else open)(p, "rt", encoding="utf-8").read()
                           for p in c["paths"])
            want = np.loadtxt(io.StringIO(text), **kw)
        got = npshm.attach(c["descriptor"])
        saved = io.BytesIO()
        np.save(saved, want)
        with open(os.path.join(npshm.shm_dir(), c["descriptor"]["name"]), "rb") as fh:
            image = fh.read()
        verdict = {"case": c["case"], "dtype": got.dtype == want.dtype, "shape": [list(got.shape), list(want.shape)],
                   "bytes": got.tobytes() == want.tobytes(), "same_as_np_save": image == saved.getvalue()}
        if not verdict["bytes"] and got.shape == want.shape:
            g, w = got.reshape(-1), want.reshape(-1)
            bad = [i for i in range(g.size) if g[i:i + 1].tobytes() != w[i:i + 1].tobytes()][:3]
            verdict["first_diffs"] = [[repr(g[i]), repr(w[i])] for i in bad]
        print(json.dumps(verdict), flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"read": lambda: read(sys.argv[2]), "share": share, "live": lambda: live(sys.argv[2]),
     "attach": lambda: attach(sys.argv[2]), "hold": lambda: hold(sys.argv[2]), "foreign": foreign,
     "lines": lines, "recv": lambda: recv(sys.argv[2]), "loadtxt": loadtxt}[cmd]()
