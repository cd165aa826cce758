package pickle

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// Sentinel causes carried by [DecodeError]. Match them with [errors.Is].
var (
	// ErrTruncated means the input ended before the pickle's STOP opcode,
	// or inside an opcode's argument. It matches io.ErrUnexpectedEOF too.
	ErrTruncated error = truncatedError{}

	// ErrLimit is matched by every [LimitError].
	ErrLimit = errors.New("pickle: decoding limit exceeded")

	// ErrUnknownOpcode is a byte that is not a pickle opcode.
	ErrUnknownOpcode = errors.New("unknown opcode")

	// ErrStackUnderflow is an opcode that needs more values than the stack
	// holds above the topmost MARK.
	ErrStackUnderflow = errors.New("stack underflow")

	// ErrMark is a MARK where a value is needed, or a missing MARK.
	ErrMark = errors.New("misplaced or missing MARK")

	// ErrMemo is a GET of a memo key that was never PUT.
	ErrMemo = errors.New("memo key not found")

	// ErrUnhashable is a dict key or set element that Python could not
	// hash (a list, dict, set or bytearray).
	ErrUnhashable = errors.New("unhashable value")

	// ErrSyntax is a malformed opcode argument: a bad decimal number, an
	// unquoted STRING, invalid UTF-8, a negative length.
	ErrSyntax = errors.New("malformed argument")

	// ErrType is a value of the wrong kind for an opcode, such as REDUCE
	// arguments that are not a tuple or APPEND to something not a list.
	ErrType = errors.New("wrong type of operand")

	// ErrProtocol is a PROTO opcode naming a protocol above 5.
	ErrProtocol = errors.New("unsupported pickle protocol")

	// ErrExtension is an EXT opcode whose code is not registered in
	// [DecodeOptions.Extensions] (or is not positive).
	ErrExtension = errors.New("unregistered extension code")

	// ErrBuffer is NEXT_BUFFER without a remaining caller-supplied buffer,
	// or READONLY_BUFFER applied to something that is not a buffer.
	ErrBuffer = errors.New("out-of-band buffer not available")

	// ErrKeyNotComparable is carried by an *[UnmarshalTypeError] for a
	// dict key or set element that Unmarshal cannot use as a key of the
	// Go map it fills: a Go value that is not comparable, such as the
	// Tuple or []byte an interface-typed key receives for a Python tuple
	// or bytes. Decode such dicts into *Dict, or a map with a key type the
	// key converts to.
	ErrKeyNotComparable = errors.New("not comparable, so not a Go map key")

	// ErrUnsupportedTarget is returned by Unmarshal for a target that is
	// not a non-nil pointer.
	ErrUnsupportedTarget = errors.New("pickle: Unmarshal target must be a non-nil pointer")
)

type truncatedError struct{}

func (truncatedError) Error() string        { return "unexpected end of data" }
func (truncatedError) Is(target error) bool { return target == io.ErrUnexpectedEOF }

// DecodeError reports why a pickle could not be decoded: the opcode, where
// it starts in the input and the cause. Causes are the sentinel errors of
// this package (ErrTruncated, ErrStackUnderflow, ...), a *[LimitError], or
// an error returned by a caller's hook.
type DecodeError struct {
	Offset int64 // offset of the opcode in the input
	Opcode byte  // the opcode being decoded; 0 when the input ended before one
	Err    error // the cause
}

func (e *DecodeError) Error() string {
	cause := "<nil>"
	if e.Err != nil {
		cause = strings.TrimPrefix(e.Err.Error(), "pickle: ")
	}
	if e.Opcode == 0 {
		return "pickle: at offset " + strconv.FormatInt(e.Offset, 10) + ": " + cause
	}
	return fmt.Sprintf("pickle: %s (0x%02x) at offset %d: %s", opcodeName(e.Opcode), e.Opcode, e.Offset, cause)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// LimitError is a decoding limit of [DecodeOptions] that the input would
// exceed. It matches [ErrLimit].
type LimitError struct {
	Limit string // name of the DecodeOptions field, e.g. "MaxStringLen"
	Max   int64  // the limit in force
	Got   int64  // what the input asked for, when known; else 0
}

func (e *LimitError) Error() string {
	if e.Got > 0 {
		return fmt.Sprintf("pickle: %s exceeded: %d > %d", e.Limit, e.Got, e.Max)
	}
	return fmt.Sprintf("pickle: %s exceeded (limit %d)", e.Limit, e.Max)
}

func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// EncodeError reports a value that could not be encoded, with its Go path
// from the value given to Marshal, in Go syntax: `.Items[3].Meta["x"]`.
type EncodeError struct {
	Path string       // Go path of the value; "" for the top-level value
	Type reflect.Type // the value's type; nil when unknown
	Err  error        // the cause, e.g. an *UnsupportedTypeError
}

func (e *EncodeError) Error() string {
	where := e.Path
	if where == "" {
		where = "top-level value"
	}
	return "pickle: cannot encode " + where + ": " + strings.TrimPrefix(e.Err.Error(), "pickle: ")
}

func (e *EncodeError) Unwrap() error { return e.Err }

// UnsupportedTypeError is a Go type that has no pickle encoding: channels,
// functions, unsafe pointers.
type UnsupportedTypeError struct {
	Type reflect.Type
}

func (e *UnsupportedTypeError) Error() string {
	return "unsupported type " + e.Type.String()
}

// ErrInvalidUTF8 is a Go string to be encoded as a Python str that is not
// UTF-8 (lone surrogates, which Python allows in pickles, are accepted).
var ErrInvalidUTF8 = errors.New("string is not valid UTF-8; use []byte for binary data")

// ErrEncodeDepth is a value nested deeper than EncodeOptions.MaxDepth, or a
// cycle that does not pass through a value the memo can refer to.
var ErrEncodeDepth = errors.New("value nested too deeply (or a cycle through a non-memoizable value)")
