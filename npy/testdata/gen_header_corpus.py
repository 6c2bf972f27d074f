"""Write npy/testdata/header_corpus.json: header texts with numpy's verdict on each.

Three readers parse .npy headers: numpy, npshm's Python reader
(pyshim/src/npshm/_format.py) and Go's npy.ParseHeader. numpy is the
reference. This script makes header texts (hand-written odd cases, and
seeded mutations of the numpy-made goldens), asks numpy whether it loads
each (read_array_header plus the size and dimension checks np.load makes)
and what it reads, asks npshm's Python reader the same, and checks:

  * no reader of ours accepts a header numpy rejects;
  * where both accept, they read the same descr, shape and order;
  * where numpy accepts and we refuse, it is on purpose (the list in
    npy/doc.go and _format.py), and Go refuses it too.

The Go test TestHeaderCorpus (npy/corpus_test.go) reads the same file and
checks npy.ParseHeader against both recorded verdicts, without Python.

Run from the repo root, with PYTHONPATH=pyshim/src:

    .venv/bin/python npy/testdata/gen_header_corpus.py           # regenerate (numpy 2.x)
    .venv/bin/python npy/testdata/gen_header_corpus.py --check   # recompute and compare
    .venv/bin/python npy/testdata/gen_header_corpus.py --fuzz 20000 --seed 7 --out /tmp/c.json
        # random mutations: Python vs numpy now; then Go vs both:
        # NPSHM_HEADER_CORPUS=/tmp/c.json go test ./npy -run TestHeaderCorpus

NPSHM_FUZZ_ITERS sets --fuzz's default. The checked-in verdicts are numpy
2.x's; under numpy 1.x --check allows only the documented differences
(version_difference).
"""
import argparse
import io
import json
import os
import random
import re
import struct
import subprocess
import sys
import warnings

import numpy as np

from npshm import _format

try:  # numpy >= 2.3 moved the implementation
    from numpy.lib import _format_impl as fmt
except ImportError:  # pragma: no cover - numpy < 2.3
    from numpy.lib import format as fmt

OUT = "npy/testdata/header_corpus.json"
GOLDENS = "npy/testdata/golden_headers.json"
NUMPY2 = int(np.__version__.split(".")[0]) >= 2


def wrap(text, version):
    """The header bytes for text, padded as numpy pads, in the given version
    (1, 2 or 3); None if the text cannot be encoded in that version."""
    try:
        body = text.encode("utf8" if version == 3 else "latin1")
    except UnicodeEncodeError:
        return None
    fmt = "<H" if version == 1 else "<I"
    pre = 8 + struct.calcsize(fmt)
    hlen = len(body) + 1
    hlen += (64 - (pre + hlen) % 64) % 64
    if version == 1 and hlen > 0xFFFF:
        return None
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(fmt, hlen) + body + b" " * (hlen - len(body) - 1) + b"\n"


# numpy dies of SIGFPE on a datetime unit divided by zero or by a huge
# number ('M8[s/0]', 'M8[s/4611686018427387904]'), so such headers are not
# shown to it; npshm refuses every '/' unit anyway.
ODD_DIVISOR = re.compile(rb"/(?![1-9][0-9]{0,3}\])")


def numpy_verdict(hdr, guard=True):
    """What numpy makes of a header: loads it (ok) or not."""
    if guard and ODD_DIVISOR.search(hdr):  # ask a numpy in another process, which may die
        r = subprocess.run([sys.executable, "-W", "ignore", __file__, "--numpy-verdict", hdr.hex()],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return {"ok": False, "error": "numpy died (%d)" % r.returncode}
        return json.loads(r.stdout)
    fp = io.BytesIO(hdr)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version = fmt.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(fp)
            else:
                shape, fortran, dtype = fmt._read_array_header(fp, version)
            # np.load then makes the array: numpy's own dimension and size checks
            probe = np.dtype((np.void, dtype.itemsize)) if dtype.hasobject else dtype
            np.ndarray(shape, probe, buffer=bytearray(max(1, dtype.itemsize)), strides=(0,) * len(shape))
            descr = repr(np.lib.format.dtype_to_descr(dtype))
    except BaseException as e:  # RecursionError, MemoryError too: a refusal
        return {"ok": False, "error": type(e).__name__}
    v = {"ok": True, "descr": descr, "shape": [int(x) for x in shape], "fortran_order": fortran}
    if dtype.hasobject:
        v["object"] = True
    return v


def ours_verdict(hdr):
    """What npshm's Python reader makes of it."""
    try:
        h = _format.parse_header(hdr, 1 << 80, "corpus")
    except _format.SegmentError as e:
        return {"ok": False, "error": str(e).removeprefix("corpus: ")[:120]}
    return {"ok": True, "descr": repr(np.lib.format.dtype_to_descr(h.dtype)), "shape": list(h.shape),
            "fortran_order": h.fortran_order}


def case(label, text, version=1):
    return (label, text, version)


def hd(descr="'<f8'", fortran="False", shape="(3,)", extra=""):
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s, %s}" % (descr, fortran, shape, extra)


def nest(k, leaf="'<i4'"):
    d = leaf
    for _ in range(k):
        d = "[('a', %s)]" % d
    return d


def hand_cases():
    """Odd headers chosen by hand: issue 9 items 13 and 14, and neighbours."""
    c = []
    for s in ["(3)", "(03,)", "(\u0663,)", "(3L,)", "(3 L,)", "(3l,)", "(0x3,)", "(0o3,)", "(0b1,)", "(3.0,)",
              "(-3,)", "(+3,)", "(- 3,)", "(--3,)", "(3_0,)", "(3__0,)", "(0_0,)", "(00,)", "(True,)", "(None,)",
              "[3]", "3", "()", "(0,)", "(3, 4)", "(3, 4,)", "((3),)", "(((3,)))", "(3,4)", "( 3 , )",
              "(99999999999999999999,)", "(9223372036854775807,)", "(9223372036854775808,)",
              "(1152921504606846975,)", "(1152921504606846976,)", "(0, 4611686018427387904, 4)",
              "(4611686018427387904, 0)", "(2147483648, 2147483648)", "(4294967296, 4294967296)",
              "(1,) * 2", "(3,) + (4,)", "(1e3,)", "(1j,)", "(3, 'a')", "{3}"]:
        c.append(case("shape " + s, hd(shape=s)))
        if "L" in s:
            c.append(case("v3 shape " + s, hd(shape=s), 3))
    for n in (32, 33, 64, 65):
        c.append(case("dims %d" % n, hd(shape="(" + "1, " * n + ")")))
    for d in ["d", "<g", "<f12", "<c24", "<f16", "<c32", "g", "G", "e", "f", "i", "b", "B", "?", "<?", "b1", ">b1",
              "c", "S", "U", "V", "a", "a3", "<a3", "u", "i3", "<i", "=f8", "|f8", "<u1", ">u1",
              "M8", "M", "M8[ns]", "<M8[99999999999999999999s]", "<M8[2147483647s]", "<M8[2147483648s]", "M8[01s]",
              "M8[0s]", "M8[s/4]", "M8[5generic]", "M8[generic]", "M8[\u03bcs]", "M[ns]", "m8[as]", "M8[B]",
              "O", "|O", "O4", "O8", "float64", "int", "i4,f8", "(2,)f8", "S+1", "S 1", "<f08", "<f 8", "<f8 ",
              "U536870911", "U536870912", "S2147483647", "S2147483648", "V0", "S010", "x", "", "<", "\u00e9"]:
        c.append(case("descr %r" % d, hd(descr=repr(d))))
    for d in ["[('a', '<i4')]", "[('', '<i4')]", "[('', '<i4'), ('', '<i4')]", "[['a', '<i4']]",
              "[('a', '<i4', [2])]", "[('a', '<i4', ())]", "[('a', '<i4', (True,))]", "[('a', '<i4', True)]",
              "[(('t', 'a'), '<i4')]", "[(['t', 'a'], '<i4')]", "[(('a', 'a'), '<i4')]", "[((1, 'a'), '<i4')]",
              "[('a', '<i4', 0)]", "[('a', '<i4'), ('', '|V2'), ('', '|V2')]", "[('', '|V0'), ('a', '<i4')]",
              "[('a', '<i4'), ('', '|V4')]", "[('', '|V2', (2,)), ('a', '<i4')]", "[('a', '<i4', (2, -1))]",
              "[('a', '<i4', (2147483648,))]", "[('a', '|V0', (2147483648,))]", "[]", "[('a', '<i4'), ('A', '<i4')]",
              "[('a', '<i4'), ('a', '<i4')]", "['ab']", "[('a',)]", "[('a', '<i4', (2,), 1)]", "('<i4', (2,))",
              "[('a', ('<i4', (2,)))]", "[(b'a', '<i4')]", "[('\\ud800', '<i4')]", "[('\\N{DIGIT ONE}', '<i4')]",
              "[('\\x41\\101\\u00e9', '<i4')]", "[(r'a\\b', '<i4')]", "[('''a''', '<i4')]", "[('a' 'b', '<i4')]",
              "[('a', '<i4', (2,)), ('b', [('c', '>f8'), ('d', '|S3')], (2, 2))]", "[('', [('a', '<i4')])]",
              "[('a', 'M8[5generic]')]", "[('a', '|O')]", "[('a', '<i4', 1)]", "[('', '<i4', 1), ('a', '<i4')]",
              "[('n', [('', '>u4', (2, 3))])]", "[('', '<i4', 0), ('a', '<i4')]", "[('\\ud800', '<i4')]", "[('a', 'float64')]", "[(('', 'a'), '<i4')]"]:
        c.append(case("record " + d, hd(descr=d)))
    for k in (20, 31, 32, 60, 98, 99, 100):
        c.append(case("nested %d" % k, hd(descr=nest(k))))
    for k in (199, 200, 201):
        c.append(case("parens %d" % k, hd(shape="(" * (k - 1) + "3," + ")" * (k - 1))))
    c += [
        case("fortran 0", hd(fortran="0")), case("fortran 1", hd(fortran="1")), case("fortran None", hd(fortran="None")),
        case("fortran 'True'", hd(fortran="'True'")), case("fortran True", hd(fortran="True")),
        case("extra key", hd(extra="'x': 1, ")), case("missing key", "{'descr': '<f8', 'shape': (3,)}"),
        case("duplicate key", "{'descr': 'x', 'descr': '<f8', 'fortran_order': False, 'shape': (3,)}"),
        case("duplicate key bad last", "{'descr': '<f8', 'descr': 'x', 'fortran_order': False, 'shape': (3,)}"),
        case("int key", "{1: '<f8', 'fortran_order': False, 'shape': (3,)}"),
        case("unicode prefix", "{u'descr': u'<f8', U'fortran_order': False, u'shape': (3,)}"),
        case("double quotes", '{"descr": "<f8", "fortran_order": False, "shape": (3,)}'),
        case("comment", "{'descr': '<f8', # hi\n 'fortran_order': False, 'shape': (3,)}"),
        case("continuation", "{'descr': '<f8', \\\n 'fortran_order': False, 'shape': (3,)}"),
        case("newlines", "{\n'descr':'<f8',\n'fortran_order':False,\n'shape':(3,),\n}"),
        case("crlf", "{'descr': '<f8',\r\n'fortran_order': False, 'shape': (3,)}"),
        case("cr", "{'descr': '<f8',\r'fortran_order': False, 'shape': (3,)}"),
        case("tab", "{'descr':\t'<f8', 'fortran_order': False, 'shape': (3,)}"),
        case("formfeed", "{'descr':\f'<f8', 'fortran_order': False, 'shape': (3,)}"),
        case("vtab", "{'descr':\v'<f8', 'fortran_order': False, 'shape': (3,)}"),
        case("nbsp", "{'descr':\u00a0'<f8', 'fortran_order': False, 'shape': (3,)}"),
        case("nul", "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}\0"),
        case("nul in string", "{'descr': '<f8\0', 'fortran_order': False, 'shape': (3,)}"),
        case("leading newline", "\n" + hd()), case("leading space", "  " + hd()), case("leading formfeed", "\f" + hd()),
        case("two dicts", hd() + hd()), case("not a dict", "['descr', 'shape']"), case("set", "{'descr', 'shape'}"),
        case("call", "{'descr': eval('1'), 'fortran_order': False, 'shape': (3,)}"),
        case("ellipsis", hd(descr="...")), case("bytes descr", hd(descr="b'<f8'")),
        case("list descr str", hd(descr="['<f8']")), case("empty", ""), case("unterminated", "{'descr': '<f8"),
        case("big header", hd(extra=" " * 10100)), case("v3 utf8 name", hd(descr="[('\u00e9\u4e2d', '<i4')]"), 3),
        case("v2", hd(), 2), case("v3", hd(), 3), case("escape unknown", hd(descr="[('a\\q', '<i4')]")),
        case("escape octal 777", hd(descr="[('\\777', '<i4')]")), case("escape \\x4", hd(descr="[('\\x4', '<i4')]")),
        case("escape U big", hd(descr="[('\\U00110000', '<i4')]")), case("raw descr", hd(descr="r'<f8'")),
        case("string newline", hd(descr="'<f\n8'")), case("string escaped newline", hd(descr="'<f\\\n8'")),
    ]
    return c


DIGITS = ["\u0663", "03", "3L", "3 L", "3l", "0x3", "3.0", "-3", "+3", "3_0", "99999999999999999999",
          "4611686018427387904", "True", "(3)", "0", "1", "2147483648"]
DESCRS = ["'d'", "'<g'", "'<f12'", "'<M8[99999999999999999999s]'", "'M8[s/4]'", "'a'", "'<a2'", "'b'", "'c'",
          "'float64'", "'i4,f8'", "[('a', '<i4')]", "[]", "'|O'", "('<i4', (2,))", "'<U0'", "'V0'", nest(40)]
ESCAPES = ["\\x41", "\\101", "\\777", "\\u00e9", "\\U0001F600", "\\q", "\\\n", "\\N{DIGIT ONE}", "\\ud800",
           "\u00e9", "\t", "\\'", '\\"', '"', "\\x4", "\\U00110000", "\\0"]
ALPHABET = "(),[]{}:'\"L_0123456789 \n\t\r\f\v#\\uUrbx-+.eTFN\u0663\u00e9"


def mutate(rng, text):
    """One random edit of a header text."""
    op = rng.randrange(10)
    if op == 9 and "'" in text:  # an escape or odd character inside a string
        i = rng.choice([i for i, ch in enumerate(text) if ch == "'"]) + 1
        return text[:i] + rng.choice(ESCAPES) + text[i:]
    if op == 0 and any(ch.isdigit() for ch in text):  # a number in another spelling
        i = rng.choice([i for i, ch in enumerate(text) if ch.isdigit()])
        return text[:i] + rng.choice(DIGITS) + text[i + 1:]
    if op == 1:  # another descr
        i, j = text.find("'descr': ") + 9, text.find(", 'fortran_order'")
        if 9 <= i < j:
            return text[:i] + rng.choice(DESCRS) + text[j:]
    if op == 2:  # another shape
        n = rng.choice([0, 1, 2, 33, 65])
        dims = ", ".join(rng.choice(["0", "1", "3", "2147483648", "4611686018427387904"]) for _ in range(n))
        i, j = text.find("'shape': ") + 9, text.rfind(")")
        if 9 <= i < j:
            return text[:i] + "(" + dims + ("," if n == 1 else "") + text[j:]
    if op == 3:  # wrap something in parentheses
        i = rng.randrange(len(text) + 1)
        j = rng.randrange(i, len(text) + 1)
        return text[:i] + "(" + text[i:j] + ")" + text[j:]
    if op == 4:  # an extra or duplicated key
        k = rng.choice(["'x': 1, ", "'descr': '<i4', ", "'shape': (), ", "'fortran_order': True, "])
        i = text.rfind("}")
        return text[:i] + k + text[i:] if i >= 0 else text
    if op == 5:  # delete a span
        i = rng.randrange(len(text) + 1)
        return text[:i] + text[i + rng.randrange(1, 4):]
    if op == 6:  # nest
        return text.replace("'descr': ", "'descr': " + "[('n', " * 3, 1).replace(", 'fortran_order'", ")]" * 3 + ", 'fortran_order'", 1)
    i = rng.randrange(len(text) + 1)  # insert or replace a character
    return text[:i] + rng.choice(ALPHABET) + text[i + (op == 7):]


def golden_texts():
    with open(GOLDENS) as f:
        cases = json.load(f)["cases"]
    out = []
    for g in cases:
        b = bytes.fromhex(g["header_hex"])
        start = 10 if b[6] == 1 else 12
        out.append(b[start:].decode("utf8" if b[6] == 3 else "latin1").rstrip(" \n"))
    return out


def mutations(seed, n):
    rng = random.Random(seed)
    base = golden_texts()
    out = []
    while len(out) < n:
        text = rng.choice(base)
        for _ in range(rng.choice([1, 1, 2, 3])):
            text = mutate(rng, text)
        out.append(case("mutation %d.%d" % (seed, len(out)), text, rng.choice([1, 1, 1, 2, 3])))
    return out


def verdicts(cases):
    out = []
    for label, text, version in cases:
        hdr = wrap(text, version)
        if hdr is None:
            continue
        out.append({"case": label, "header_hex": hdr.hex(), "numpy": numpy_verdict(hdr), "python": ours_verdict(hdr)})
    return out


def problems(rows):
    """The rows where npshm's Python reader breaks the rules against numpy."""
    bad = []
    for r in rows:
        n, p = r["numpy"], r["python"]
        if p["ok"] and not n["ok"]:
            bad.append((r["case"], "accepted what numpy rejects", n, p))
        elif p["ok"] and (p["descr"], p["shape"], p["fortran_order"]) != (n["descr"], n["shape"], n["fortran_order"]):
            bad.append((r["case"], "reads it differently", n, p))
    return bad


def version_difference(row, recorded):
    """True for the documented numpy 1.x/2.x differences: numpy 1.x allows 32
    dimensions, not 64; other differences (numpy 1.x reads sizes past 2**31
    as negative, '1<u4' as '<u4') are on headers npshm refuses under both."""
    if NUMPY2:
        return False
    many_dims = recorded["numpy"]["ok"] and len(recorded["numpy"]["shape"]) > 32
    refused = not row["python"]["ok"] and not recorded["python"]["ok"]
    follows_numpy2 = row["python"] == recorded["numpy"]  # field shape 1: see main
    return many_dims or refused or follows_numpy2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="recompute the checked-in corpus and compare")
    ap.add_argument("--fuzz", type=int, default=int(os.environ.get("NPSHM_FUZZ_ITERS", "0")),
                    help="random mutations to run instead (Python vs numpy)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="where --fuzz writes its corpus for the Go test")
    ap.add_argument("--numpy-verdict", help=argparse.SUPPRESS)  # one header's, in hex
    args = ap.parse_args()
    if args.numpy_verdict:
        print(json.dumps(numpy_verdict(bytes.fromhex(args.numpy_verdict), guard=False)))
        return 0

    if args.fuzz and not args.check:
        rows = verdicts(mutations(args.seed, args.fuzz))
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"numpy": np.__version__, "cases": rows}, f, indent=0, ensure_ascii=True)
        refused = sum(r["numpy"]["ok"] and not r["python"]["ok"] for r in rows)
        accepted = sum(r["python"]["ok"] for r in rows)
        print(f"{len(rows)} mutated headers: python accepts {accepted}, refuses {refused} numpy accepts")
        return report(problems(rows))

    rows = verdicts(hand_cases() + mutations(0, 400))
    if not args.check:
        if not NUMPY2:
            sys.exit("write the corpus with numpy 2.x; numpy 1.x only --check's it")
        with open(OUT, "w") as f:
            json.dump({"numpy": np.__version__, "cases": rows}, f, indent=1, ensure_ascii=True)
            f.write("\n")
        return report(problems(rows))
    with open(OUT) as f:
        want = {r["case"]: r for r in json.load(f)["cases"]}
    # numpy 1.x reads a field shape of int 1 as a plain field, numpy 2 (and
    # npshm under both) as shape (1,): judged by the recorded numpy 2 verdict
    bad = [p for p in problems(rows) if NUMPY2 or p[1] != "reads it differently" or p[3] != want[p[0]]["numpy"]]
    for r in rows:
        w = want.get(r["case"])
        if w is None or w["header_hex"] != r["header_hex"]:
            bad.append((r["case"], "not in the checked-in corpus (regenerate it)", None, None))
        elif r["numpy"] != w["numpy"] and not version_difference(r, w):
            bad.append((r["case"], "numpy's verdict changed", w["numpy"], r["numpy"]))
        elif r["python"]["ok"] != w["python"]["ok"] and not version_difference(r, w):
            bad.append((r["case"], "npshm's verdict changed", w["python"], r["python"]))
    return report(bad)


def report(bad):
    for label, why, n, p in bad[:40]:
        print(f"{label!r}: {why}\n  numpy:  {n}\n  npshm:  {p}")
    if bad:
        print(f"{len(bad)} problems")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
