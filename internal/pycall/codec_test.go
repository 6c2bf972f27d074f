package pycall

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestEncodeRequest(t *testing.T) {
	for _, c := range []struct {
		arg  any
		want string
	}{
		{nil, `null`},
		{1.0, `1.0`},
		{float32(0.25), `0.25`},
		{1e21, `1e+21`},
		{math.NaN(), `{"__npshm__":["f","nan"]}`},
		{math.Inf(-1), `{"__npshm__":["f","-inf"]}`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{[]byte("hi"), `{"__npshm__":["b","aGk="]}`},
		{[]byte(nil), `null`},
		{[]int(nil), `null`},
		{[]string{"a\"b"}, `["a\"b"]`},
		{map[string]bool{"x": true}, `{"x":true}`},
		{"<&>", `"\u003c\u0026\u003e"`},
	} {
		r, err := EncodeRequest("m.f", []any{c.arg})
		if err != nil {
			t.Errorf("EncodeRequest(%#v): %v", c.arg, err)
			continue
		}
		if want := `{"fn":"m.f","args":[` + c.want + `],"arrays":[]}`; string(r.JSON) != want {
			t.Errorf("EncodeRequest(%#v) = %s, want %s", c.arg, r.JSON, want)
		}
	}
	deep := any(1)
	for range 200 {
		deep = []any{deep}
	}
	if _, err := EncodeRequest("m.f", []any{deep}); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("200-deep argument: %v", err)
	}
}

func TestDecodeReply(t *testing.T) {
	v, err := DecodeReply("m.f", []byte(`{"ok":{"i":9007199254740993,"f":1.0,"e":1e300,"n":{"__npshm__":["f","-inf"]},"b":{"__npshm__":["b","aGk="]},"l":[null,true,"s"]},"arrays":[]}`), nil)
	want := map[string]any{"i": int64(9007199254740993), "f": 1.0, "e": 1e300, "n": math.Inf(-1), "b": []byte("hi"), "l": []any{nil, true, "s"}}
	if err != nil || !reflect.DeepEqual(v, want) {
		t.Errorf("DecodeReply = %#v, %v; want %#v", v, err, want)
	}
	_, err = DecodeReply("m.f", []byte(`{"error":{"type":"KeyError","message":"'k'","traceback":"Traceback ...\nKeyError: 'k'\n"}}`), nil)
	var pe *Error
	if !errors.As(err, &pe) || pe.Type != "KeyError" || pe.Func != "m.f" || err.Error() != "python m.f: KeyError: 'k'" {
		t.Errorf("error reply: %v", err)
	}
	for _, bad := range []string{
		`{"ok":{"__npshm__":["a",0]},"arrays":[]}`, // no such array
		`{"ok":{"__npshm__":["x",0]},"arrays":[]}`,
		`{"ok":99999999999999999999,"arrays":[]}`,
		`not json`,
	} {
		if _, err := DecodeReply("m.f", []byte(bad), nil); !errors.Is(err, ErrProtocol) {
			t.Errorf("DecodeReply(%s): %v, want ErrProtocol", bad, err)
		}
	}
}
