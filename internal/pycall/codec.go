package pycall

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/npshm/npshm/bridge"
)

// tag is the key of the one-key object that carries what JSON cannot say.
const tag = "__npshm__"

// Request is one call, encoded: the JSON message, and the arrays that go
// beside it (in order) as file descriptors.
type Request struct {
	Func   string
	JSON   []byte
	Arrays []*bridge.Array
}

type wireRequest struct {
	Func     string            `json:"fn"`
	Args     []json.RawMessage `json:"args"`
	Writable []bool            `json:"arrays"`
}

// EncodeRequest checks fn ("module.function") and encodes the arguments.
// An argument of a type with no Python counterpart is an error naming it.
func EncodeRequest(fn string, args []any) (*Request, error) {
	if i := strings.LastIndexByte(fn, '.'); i <= 0 || i == len(fn)-1 {
		return nil, fmt.Errorf("function %q: want \"module.function\"", fn)
	}
	r := &Request{Func: fn}
	w := wireRequest{Func: fn, Args: make([]json.RawMessage, len(args)), Writable: []bool{}}
	for i, a := range args {
		var b bytes.Buffer
		if err := r.encode(&b, reflect.ValueOf(a), 0); err != nil {
			return nil, fmt.Errorf("call %s: argument %d: %w", fn, i+1, err)
		}
		w.Args[i] = b.Bytes()
	}
	for _, a := range r.Arrays {
		w.Writable = append(w.Writable, a.Segment().Mode() == bridge.ReadWrite)
	}
	var err error
	r.JSON, err = json.Marshal(w)
	return r, err
}

var arrayType = reflect.TypeFor[*bridge.Array]()

func (r *Request) encode(b *bytes.Buffer, v reflect.Value, depth int) error {
	if depth > 100 {
		return errors.New("value nested more than 100 deep")
	}
	if !v.IsValid() {
		b.WriteString("null")
		return nil
	}
	if v.Type() == arrayType {
		a := v.Interface().(*bridge.Array)
		if a == nil {
			b.WriteString("null")
			return nil
		}
		if a.Segment().Bytes() == nil {
			return fmt.Errorf("array: %w", os.ErrClosed)
		}
		fmt.Fprintf(b, `{%q:["a",%d]}`, tag, len(r.Arrays))
		r.Arrays = append(r.Arrays, a)
		return nil
	}
	switch v.Kind() {
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		writeFloat(b, v.Float(), v.Type().Bits())
	case reflect.String:
		writeString(b, v.String())
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		return r.encode(b, v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			if v.IsNil() {
				b.WriteString("null")
				return nil
			}
			fmt.Fprintf(b, `{%q:["b",%q]}`, tag, base64.StdEncoding.EncodeToString(v.Bytes()))
			return nil
		}
		if v.Kind() == reflect.Slice && v.IsNil() {
			b.WriteString("null")
			return nil
		}
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := r.encode(b, v.Index(i), depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("cannot pass %s to Python: map keys must be strings", v.Type())
		}
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		b.WriteByte('{')
		for i, it := 0, v.MapRange(); it.Next(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			k := it.Key().String()
			if k == tag {
				return fmt.Errorf("map key %q is reserved", tag)
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := r.encode(b, it.Value(), depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("cannot pass %s to Python", v.Type())
	}
	return nil
}

// writeFloat writes f so that Python reads a float, never an int.
func writeFloat(b *bytes.Buffer, f float64, bits int) {
	switch {
	case math.IsNaN(f):
		fmt.Fprintf(b, `{%q:["f","nan"]}`, tag)
	case math.IsInf(f, 1):
		fmt.Fprintf(b, `{%q:["f","inf"]}`, tag)
	case math.IsInf(f, -1):
		fmt.Fprintf(b, `{%q:["f","-inf"]}`, tag)
	default:
		s := strconv.FormatFloat(f, 'g', -1, bits)
		b.WriteString(s)
		if !strings.ContainsAny(s, ".e") {
			b.WriteString(".0")
		}
	}
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a Go string always marshals (bad UTF-8 becomes U+FFFD)
	b.Write(enc)
}

type wireReply struct {
	OK       json.RawMessage `json:"ok"`
	Writable []bool          `json:"arrays"`
	Error    *struct {
		Type      string `json:"type"`
		Message   string `json:"message"`
		Traceback string `json:"traceback"`
	} `json:"error"`
}

// ReplyArrays is how many arrays follow a reply and whether each is
// writable; receive them (in order) before DecodeReply.
func ReplyArrays(reply []byte) ([]bool, error) {
	var w wireReply
	if err := json.Unmarshal(reply, &w); err != nil {
		return nil, fmt.Errorf("%w: reply: %v", ErrProtocol, err)
	}
	return w.Writable, nil
}

// DecodeReply turns a reply into the function's result, with arrays the
// arrays received after it, or into an *Error for a Python exception. On
// any error it closes the arrays.
func DecodeReply(fn string, reply []byte, arrays []*bridge.Array) (any, error) {
	var w wireReply
	err := json.Unmarshal(reply, &w)
	if err != nil {
		err = fmt.Errorf("%w: reply to %s: %v", ErrProtocol, fn, err)
	} else if w.Error != nil {
		err = &Error{Func: fn, Type: w.Error.Type, Message: w.Error.Message, Traceback: w.Error.Traceback}
	}
	var v any
	if err == nil {
		d := json.NewDecoder(bytes.NewReader(w.OK))
		d.UseNumber()
		if err = d.Decode(&v); err == nil {
			used := make([]bool, len(arrays))
			v, err = decode(v, arrays, used)
			for i, u := range used {
				if !u && err == nil {
					err = fmt.Errorf("array %d sent but not used", i)
				}
			}
		}
		if err != nil {
			err = fmt.Errorf("%w: result of %s: %v", ErrProtocol, fn, err)
		}
	}
	if err != nil {
		for _, a := range arrays {
			a.Close()
		}
		return nil, err
	}
	return v, nil
}

func decode(v any, arrays []*bridge.Array, used []bool) (any, error) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			return strconv.ParseFloat(s, 64)
		}
		return strconv.ParseInt(s, 10, 64)
	case []any:
		for i := range x {
			var err error
			if x[i], err = decode(x[i], arrays, used); err != nil {
				return nil, err
			}
		}
		return x, nil
	case map[string]any:
		if t, ok := x[tag]; ok {
			return decodeTagged(t, len(x), arrays, used)
		}
		for k := range x {
			var err error
			if x[k], err = decode(x[k], arrays, used); err != nil {
				return nil, err
			}
		}
		return x, nil
	}
	return v, nil
}

func decodeTagged(t any, keys int, arrays []*bridge.Array, used []bool) (any, error) {
	l, ok := t.([]any)
	if !ok || len(l) != 2 || keys != 1 {
		return nil, fmt.Errorf("malformed %s value %v", tag, t)
	}
	kind, _ := l[0].(string)
	switch kind {
	case "b":
		s, _ := l[1].(string)
		return base64.StdEncoding.DecodeString(s)
	case "f":
		switch l[1] {
		case "nan":
			return math.NaN(), nil
		case "inf":
			return math.Inf(1), nil
		case "-inf":
			return math.Inf(-1), nil
		}
	case "a":
		n, _ := l[1].(json.Number)
		i, err := n.Int64()
		if err != nil || i < 0 || i >= int64(len(arrays)) || used[i] {
			return nil, fmt.Errorf("bad array index %v", l[1])
		}
		used[i] = true
		return arrays[i], nil
	}
	return nil, fmt.Errorf("malformed %s value %v", tag, t)
}

// SendArrays sends the request's arrays (bridge.Send). If one cannot be
// sent (closed meanwhile), it sends an abort message in its place, so the
// Python side stops receiving, replies with an error, and stays in step;
// the send error is returned. An error writing the abort itself means the
// connection is gone.
func (r *Request) SendArrays(conn *net.UnixConn) (sendErr, connErr error) {
	for i, a := range r.Arrays {
		if err := bridge.Send(conn, a); err != nil {
			if _, werr := conn.Write([]byte("abort\n")); werr != nil {
				return err, werr
			}
			return fmt.Errorf("call %s: array argument %d: %w", r.Func, i+1, err), nil
		}
	}
	return nil, nil
}
