// Package pycall is what the two ways of calling Python from Go share: the
// pyembed package (CPython in this process) and the pyworker package (Python
// worker processes). It defines the Python exception as a Go error (Error,
// which both packages re-export as an alias, so one errors.As target serves
// either), and the request and reply that carry a call: JSON for the values,
// and arrays passed beside it as file descriptors over a Unix socket
// (bridge.Send and bridge.Receive; npshm.recv and npshm.send on the Python
// side, in npshm._worker).
//
// # Values
//
// Go to Python: nil -> None, bool, every integer kind -> int, float32 and
// float64 -> float (NaN and infinities too), string -> str, []byte -> bytes,
// *bridge.Array -> numpy.ndarray over the same memory, slices and arrays ->
// list, maps with string keys -> dict. Python to Go: None -> nil, bool,
// int -> int64 (one beyond int64 is an error), float -> float64, str ->
// string, bytes and bytearray -> []byte, list and tuple -> []any, dict with
// str keys -> map[string]any, numpy scalars as their Python value,
// numpy.ndarray and npshm.Shared -> *bridge.Array.
//
// On the wire a value JSON cannot say by itself is an object with the one
// key "__npshm__" holding [tag, payload]: "b" base64 bytes, "f" a float
// that is not finite ("nan", "inf", "-inf"), "a" the index of an array sent
// beside the message. So a map key "__npshm__" is refused both ways.
package pycall
