"""The Python end of the cross-language stream tests (tests/stream_test.go).

Frames are N uint64s, frame seq holding seq*1000+i at index i.

  read NAME          attach, say "ready", read to the end; say "ok GOT DROPPED FIRST"
                     ("died" if the producer died); every frame checked
  write NAME FRAMES N SLOTS LOSSY READERS
                     create, say "ready", wait for READERS readers, send FRAMES
                     frames (odd ones in place, even ones with send), close, say "done"
  hang-write NAME N  create (4 slots), send 3 frames, say "ready", sleep
  hang-read NAME     attach, say "ready", never read, sleep
"""
import sys
import time

import npshm
import numpy as np


def frame(seq, n):
    return np.arange(n, dtype=np.uint64) + np.uint64(seq * 1000)


def say(*a):
    print(*a, flush=True)


def read(name):
    got = 0
    first = last = 0
    with npshm.stream_reader(name, timeout=60) as r:
        say("ready")
        try:
            for a in r:
                seq = r.seq
                ok = a.dtype == np.uint64 and not a.flags.writeable and np.array_equal(a, frame(seq, a.shape[0]))
                if not r.valid():
                    continue  # lossy: overtaken while we looked; never counted as read
                if not ok:
                    say(f"bad frame {seq}: {a[:4]}")
                    return 1
                if seq <= last or (not r.lossy and last and seq != last + 1):
                    say(f"out of order: {seq} after {last}")
                    return 1
                if not r.lossy and r.dropped:
                    say(f"dropped {r.dropped} in blocking mode")
                    return 1
                first = first or seq
                last = seq
                got += 1
        except npshm.StreamError:
            say("died", got, last)
            return 0
        say("ok", got, r.dropped, first, last)
    return 0


def write(name, frames, n, slots, lossy, readers):
    with npshm.stream_writer(name, (n,), np.uint64, slots=slots, lossy=lossy) as w:
        say("ready")
        deadline = time.monotonic() + 30
        while w.readers < readers:
            if time.monotonic() > deadline:
                say("no readers")
                return 1
            time.sleep(0.001)
        for seq in range(1, frames + 1):
            if seq % 2:
                with w.slot() as f:
                    f[...] = frame(seq, n)
            else:
                w.send(frame(seq, n))
    say("done")
    return 0


def main(argv):
    role, name = argv[0], argv[1]
    if role == "read":
        return read(name)
    if role == "write":
        frames, n, slots, lossy, readers = (int(x) for x in argv[2:7])
        return write(name, frames, n, slots, bool(lossy), readers)
    if role == "hang-write":
        w = npshm.stream_writer(name, (int(argv[2]),), np.uint64, slots=4)
        for seq in (1, 2, 3):
            w.send(frame(seq, int(argv[2])))
        say("ready")
        time.sleep(120)
        return 1
    if role == "hang-read":
        r = npshm.stream_reader(name)  # noqa: F841 (held open until killed)
        say("ready")
        time.sleep(120)
        return 1
    raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
