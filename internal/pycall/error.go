package pycall

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a Python exception raised by a called function (or by finding
// it: ModuleNotFoundError, AttributeError), or while converting its result
// (TypeError). pyembed.Error and pyworker.Error are this type, so
//
//	var pe *pyworker.Error // or *pyembed.Error: the same type
//	if errors.As(err, &pe) { fmt.Println(pe.Type, pe.Message); fmt.Print(pe.Traceback) }
//
// works whichever backend made err.
type Error struct {
	// Func is the function called, "module.function".
	Func string
	// Type is the exception's class: "ValueError" for a builtin, else
	// "module.QualName" ("numpy.linalg.LinAlgError").
	Type string
	// Message is str(exception).
	Message string
	// Traceback is the formatted traceback, as Python prints it, from the
	// called function's frame down (with chained exceptions).
	Traceback string
}

// Error is "python module.function: Type: message".
func (e *Error) Error() string {
	msg := e.Message
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] + " ..."
	}
	if msg == "" {
		return fmt.Sprintf("python %s: %s", e.Func, e.Type)
	}
	return fmt.Sprintf("python %s: %s: %s", e.Func, e.Type, msg)
}

// ErrProtocol marks a message from the Python side that does not follow
// the protocol (a bug, or a Python side of another version).
var ErrProtocol = errors.New("npshm call protocol")
