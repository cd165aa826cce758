package pickle

import (
	"fmt"
	"reflect"
)

// Unmarshal decodes the pickle in data and stores the result in the value
// pointed to by v, which must be a non-nil *any (typed targets are not
// supported yet). Bytes after the pickle's STOP opcode are ignored, as
// Python's pickle.loads ignores them.
//
// The value stored follows the table in the package documentation: None is
// nil, int is int64 or *big.Int, str is string, bytes is []byte, list is
// []any, tuple is Tuple, dict is *Dict, set is *Set, and objects of any
// class are *Object. Nothing is imported or executed, so any input is safe
// to decode; the limits of DecodeOptions bound the work it can cause.
func Unmarshal(data []byte, v any) error {
	return DecodeOptions{}.Unmarshal(data, v)
}

// Unmarshal is like the package's Unmarshal, with options o.
func (o DecodeOptions) Unmarshal(data []byte, v any) error {
	if err := checkTarget(v); err != nil {
		return err
	}
	cfg := o.config()
	return cfg.unmarshal(data, v)
}

// checkTarget refuses targets that Unmarshal cannot store into.
func checkTarget(v any) error {
	if p, ok := v.(*any); ok && p != nil {
		return nil
	}
	if v == nil || reflect.TypeOf(v).Kind() != reflect.Pointer || reflect.ValueOf(v).IsNil() {
		return fmt.Errorf("%w (got %T)", ErrUnsupportedTarget, v)
	}
	return fmt.Errorf("%w (got %T): decoding into typed values is not supported yet", ErrUnsupportedTarget, v)
}

// unmarshal decodes the pickle at the start of data into v, a target that
// checkTarget accepted.
func (cfg *decodeConfig) unmarshal(data []byte, v any) error {
	val, _, err := decodePickle(cfg, data)
	if err != nil {
		return err
	}
	*v.(*any) = val
	return nil
}
