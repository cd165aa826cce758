package conn

import (
	"net"

	"github.com/pipebridge/pipebridge/pickle"
)

// Codec turns the values given to Send into message bodies and the bodies
// read by Recv back into values. A Codec must be safe for concurrent use.
type Codec interface {
	// AppendMarshal appends the encoding of v to dst, leaving
	// dst[:len(dst)] as it is. On error the result is ignored and nothing
	// is sent.
	AppendMarshal(dst []byte, v any) ([]byte, error)
	// Unmarshal decodes data into v, a non-nil pointer. It may keep
	// references into data, which the Conn never reuses.
	Unmarshal(data []byte, v any) error
}

// BuffersMarshaler is implemented by a Codec that can encode a value
// without copying its large parts. Send uses it when the Codec has it: the
// header and the segments then go out in one writev.
type BuffersMarshaler interface {
	// AppendMarshalBuffers appends to bufs segments whose concatenation
	// is what AppendMarshal(dst, v) returns; the first segment starts
	// with dst. Segments may share the memory of v, which is not
	// modified while the Conn writes them; they are not referred to once
	// Send returns. On error bufs is returned unchanged and nothing is
	// sent.
	AppendMarshalBuffers(bufs net.Buffers, dst []byte, v any) (net.Buffers, error)
}

// Pickle is the default Codec: pickles, as Python's Connection.send and
// recv exchange them, through package pickle with its default options. It
// writes protocol 4, what Python 3.8 to 3.13 send (Python 2.7 reads at most
// protocol 2: use PickleCodec with Encode.Protocol 2 for it), and reads
// every protocol.
var Pickle Codec = PickleCodec{}

// PickleCodec is the pickle Codec with chosen options: Encode for what Send
// writes (the protocol, hooks), Decode for how Recv reads (limits, Python 2
// strings, hooks). The zero value is Pickle.
type PickleCodec struct {
	Encode pickle.EncodeOptions
	Decode pickle.DecodeOptions
}

// AppendMarshal appends the pickle of v.
func (p PickleCodec) AppendMarshal(dst []byte, v any) ([]byte, error) {
	return p.Encode.AppendMarshal(dst, v)
}

// AppendMarshalBuffers appends the pickle of v as segments, leaving each
// large str, bytes or bytearray payload in v's memory (see pickle's
// EncodeOptions.AppendMarshalBuffers): Send then writes a 100 MB []byte
// without copying it.
func (p PickleCodec) AppendMarshalBuffers(bufs net.Buffers, dst []byte, v any) (net.Buffers, error) {
	return p.Encode.AppendMarshalBuffers(bufs, dst, v)
}

// Unmarshal decodes one pickle into v. A str, bytes or bytearray that
// takes at least half of data shares its memory (pickle's
// DecodeOptions.ShareLarge): a message that is mostly one large payload
// is not copied again after it was read.
func (p PickleCodec) Unmarshal(data []byte, v any) error {
	opts := p.Decode
	opts.ShareLarge = true
	return opts.Unmarshal(data, v)
}
