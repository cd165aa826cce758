package conn

import (
	"bytes"
	"fmt"
	"math/big"
	"reflect"

	ogórek "github.com/kisielk/og-rek"
)

// Codec turns the values given to Send into message bodies and the bodies
// read by Recv back into values. A Codec must be safe for concurrent use.
type Codec interface {
	// AppendMarshal appends the encoding of v to dst. On error the
	// returned slice is ignored and nothing is sent.
	AppendMarshal(dst []byte, v any) ([]byte, error)
	// Unmarshal decodes data into v, a non-nil pointer.
	Unmarshal(data []byte, v any) error
}

// Pickle is the default Codec: pickles, as Python's Connection.send and
// recv exchange them. It writes protocol 4, what Python 3.8 to 3.13 send
// (Python 2.7 reads at most protocol 2: use PickleCodec{Protocol: 2} for it),
// and reads every protocol.
var Pickle Codec = PickleCodec{}

// PickleCodec is the pickle Codec with a chosen protocol for encoding.
type PickleCodec struct {
	// Protocol is the pickle protocol that AppendMarshal writes; zero
	// means 4.
	Protocol int
}

// AppendMarshal appends the pickle of v.
func (p PickleCodec) AppendMarshal(dst []byte, v any) ([]byte, error) {
	proto := p.Protocol
	if proto == 0 {
		proto = 4
	}
	buf := bytes.NewBuffer(dst)
	enc := ogórek.NewEncoderWithConfig(buf, &ogórek.EncoderConfig{Protocol: proto, StrictUnicode: true})
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes one pickle into v, which must be a non-nil *any.
func (p PickleCodec) Unmarshal(data []byte, v any) error {
	ptr, ok := v.(*any)
	if !ok || ptr == nil {
		return fmt.Errorf("conn: Recv needs a non-nil *any, not %s", reflect.TypeOf(v))
	}
	dec := ogórek.NewDecoderWithConfig(bytes.NewReader(data), &ogórek.DecoderConfig{StrictUnicode: true, PyDict: true})
	val, err := dec.Decode()
	if err != nil {
		return err
	}
	*ptr = normalize(val)
	return nil
}

// normalize maps og-rek's spellings onto the value model the project's own
// codec decodes to: None is nil, an int that fits is int64, and a py2 str is
// a string.
func normalize(v any) any {
	switch v := v.(type) {
	case ogórek.None:
		return nil
	case *big.Int:
		if v.IsInt64() {
			return v.Int64()
		}
	case ogórek.ByteString:
		return string(v)
	case []any:
		for i, x := range v {
			v[i] = normalize(x)
		}
	case ogórek.Tuple:
		for i, x := range v {
			v[i] = normalize(x)
		}
	}
	return v
}
