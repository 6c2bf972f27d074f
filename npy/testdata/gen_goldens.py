"""Write npy/testdata/golden_headers.json: .npy headers exactly as numpy writes them.

Run from the repo root with a venv that has numpy:

    .venv/bin/python npy/testdata/gen_goldens.py          # regenerate
    .venv/bin/python npy/testdata/gen_goldens.py --check  # compare with the checked-in file

`--check` is how scripts/test proves the headers are the same under numpy 1.24
and numpy 2.x. Each case records the header bytes (hex), the shape and order
numpy recorded, and the descr numpy would rebuild, so the Go tests can parse,
compare and re-encode every one byte for byte.
"""
import io
import json
import sys

import numpy as np

try:  # numpy >= 2.3 moved the implementation; the writer is the same
    from numpy.lib import _format_impl as fmt
except ImportError:  # pragma: no cover - numpy < 2.3
    from numpy.lib import format as fmt

OUT = "npy/testdata/golden_headers.json"


def header_of_array(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    data = buf.getvalue()
    return data[: len(data) - arr.nbytes]


def header_of_dict(d):
    """numpy's own writer on a header dict, for shapes too large to allocate."""
    buf = io.BytesIO()
    fmt._write_array_header(buf, d, None)
    return buf.getvalue()


def scalar_dtypes():
    codes = ["b1", "i1", "u1", "S1", "S10", "V4", "V16"]
    multi = ["i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8", "f16", "c8", "c16", "c32",
             "U1", "U7", "M8[ns]", "M8[D]", "M8[10s]", "m8[us]"]
    # Generic-unit datetimes only little-endian: numpy 2.x saves a '>M8' array
    # with descr '<M8' (numpy 1.24 keeps '>M8'), a choice of descr, not of format.
    out = [np.dtype(c) for c in codes + ["<M8", "<m8"]]
    for c in multi:
        for order in "<>":
            out.append(np.dtype(order + c))
    return out


def record_dtypes():
    return {
        "seed": np.dtype([("chr", "S10"), ("pos", "<i4"), ("pct", "<f4"), ("c", "<i4"), ("t", "<i4")]),
        "aligned": np.dtype([("a", "u1"), ("b", "<f8"), ("c", "<i2")], align=True),
        "nested": np.dtype([("x", "<i4", (2,)), ("info", [("v", "<c16"), ("name", "S2"),
                                                          ("deep", [("z", ">u4", (2, 3))])]), ("y", "<f8", (2, 2))]),
        "titles": np.dtype({"names": ["a", "b"], "formats": ["<i4", "<f4"], "titles": ["Alpha", "Beta"]}),
        "quote_names": np.dtype([("it's", "<i4"), ('say "hi"', "<f8"), ("back\\slash", "u1")]),
        "latin1_names": np.dtype([("caf\u00e9", "<f4"), ("na\u00efve", "<i2")]),
        "utf8_names": np.dtype([("\u540d\u524d", "<f4"), ("\u03b1\u03b2", "<i2")]),
        "offsets_gap": np.dtype({"names": ["a", "b"], "formats": ["<i4", "<i8"], "offsets": [0, 16], "itemsize": 32}),
        "datetime_fields": np.dtype([("when", "<M8[ms]"), ("dur", ">m8[s]"), ("u", ">U3")]),
        "one_field": np.dtype([("only", "<f8")]),
    }


def cases():
    for dt in scalar_dtypes():
        tag = dt.str
        base = np.zeros(24, dtype=dt)
        yield f"{tag} empty", base[:0]
        yield f"{tag} 0-d", base[:1].reshape(())
        yield f"{tag} 1-d", base[:5]
        yield f"{tag} C", base[:12].reshape(3, 4)
        yield f"{tag} F", np.asfortranarray(base[:12].reshape(3, 4))
        yield f"{tag} F 3-d", np.asfortranarray(base.reshape(2, 3, 4))
        yield f"{tag} non-contiguous", base.reshape(4, 6)[::2, ::3]
    for tag, dt in record_dtypes().items():
        base = np.zeros(12, dtype=dt)
        yield f"record {tag} 1-d", base[:3]
        yield f"record {tag} empty", base[:0]
        yield f"record {tag} F", np.asfortranarray(base.reshape(3, 4))
        yield f"record {tag} 0-d", base[:1].reshape(())
    # Shapes whose digits change the growth-axis padding; only the header is made.
    for shape, order in [((10**12,), False), ((7, 10**15), True), ((2**59, 1), False),
                         ((0, 3, 0), False), ((1,) * 32, False), ((123456789, 2), True)]:
        yield f"big {shape} {'F' if order else 'C'}", {"descr": "<f8", "fortran_order": order, "shape": shape}
    # Headers too long for version 1.0 (and 3.0 when names are not Latin-1).
    many = [("field_%05d_%s" % (i, "x" * 8), "<f4") for i in range(2600)]
    yield "version 2.0", {"descr": np.dtype(many).descr, "fortran_order": False, "shape": (3,)}
    many_utf8 = [("\u540d_%05d_%s" % (i, "x" * 8), "<f4") for i in range(2600)]
    yield "version 3.0 long", {"descr": np.dtype(many_utf8).descr, "fortran_order": False, "shape": (3,)}


def build():
    out = []
    for name, obj in cases():
        if isinstance(obj, dict):
            header, d = header_of_dict(obj), obj
        else:
            header, d = header_of_array(obj), fmt.header_data_from_array_1_0(obj)
        version = (header[6], header[7])
        entry = {
            "case": name,
            "header_hex": header.hex(),
            "version": "%d.%d" % version,
            "descr": repr(d["descr"]),
            "fortran_order": d["fortran_order"],
            "shape": list(d["shape"]),
        }
        if not isinstance(obj, dict):
            entry["itemsize"] = obj.dtype.itemsize
            if obj.dtype.names:
                entry["offsets"] = [obj.dtype.fields[n][1] for n in obj.dtype.names]
        out.append(entry)
    return out


def main():
    got = build()
    text = json.dumps({"numpy": np.__version__, "cases": got}, indent=1, ensure_ascii=True) + "\n"
    if "--check" in sys.argv:
        with open(OUT) as f:
            want = json.load(f)["cases"]
        bad = [g["case"] for g, w in zip(got, want) if g != w]
        if bad or len(got) != len(want):
            print(f"numpy {np.__version__}: {len(bad)} header(s) differ from {OUT}: {bad[:5]}", file=sys.stderr)
            sys.exit(1)
        print(f"numpy {np.__version__}: all {len(got)} golden headers identical")
        return
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {len(got)} cases to {OUT} with numpy {np.__version__}")


if __name__ == "__main__":
    main()
