package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
)

// scanner walks the opcodes of one pickle without building values, to find
// where it ends. more, if set, is asked for more input when the buffer runs
// out; it returns the whole buffer, at least need bytes long, or an error.
type scanner struct {
	buf       []byte
	more      func(need int) ([]byte, error)
	maxString int
	proto     int // highest protocol of the opcodes seen, or PROTO's argument
	sawProto  bool
}

func (s *scanner) ensure(n int) error {
	if n <= len(s.buf) {
		return nil
	}
	if s.more == nil {
		return ErrTruncated
	}
	b, err := s.more(n)
	s.buf = b
	if err != nil {
		if err == io.EOF {
			return ErrTruncated
		}
		return err
	}
	return nil
}

// scan returns the length of the pickle, through its STOP opcode.
func (s *scanner) scan() (int, error) {
	pos := 0
	for {
		opPos := pos
		if err := s.ensure(pos + 1); err != nil {
			if pos == 0 && errors.Is(err, ErrTruncated) {
				return 0, io.EOF
			}
			return 0, &DecodeError{Offset: int64(pos), Err: err}
		}
		op := s.buf[pos]
		pos++
		fail := func(err error) (int, error) {
			return 0, &DecodeError{Offset: int64(opPos), Opcode: op, Err: err}
		}
		info := &opTable[op]
		if info.name == "" {
			return fail(ErrUnknownOpcode)
		}
		if !s.sawProto && int(info.proto) > s.proto {
			s.proto = int(info.proto)
		}
		switch info.arg {
		case argFixed:
			if err := s.ensure(pos + int(info.n)); err != nil {
				return fail(err)
			}
			if op == opProto && opPos == 0 {
				s.proto, s.sawProto = int(s.buf[pos]), true
			}
			pos += int(info.n)
		case argLine, argLine2:
			lines := 1
			if info.arg == argLine2 {
				lines = 2
			}
			for ; lines > 0; lines-- {
				for {
					i := bytes.IndexByte(s.buf[pos:], '\n')
					if i >= 0 {
						pos += i + 1
						break
					}
					if len(s.buf)-opPos > s.maxString {
						return fail(&LimitError{Limit: "MaxStringLen", Max: int64(s.maxString)})
					}
					if err := s.ensure(len(s.buf) + 1); err != nil {
						return fail(err)
					}
				}
			}
		case argLen1, argLen4, argLen8:
			size := 1
			switch info.arg {
			case argLen4:
				size = 4
			case argLen8:
				size = 8
			}
			if err := s.ensure(pos + size); err != nil {
				return fail(err)
			}
			var n uint64
			switch size {
			case 1:
				n = uint64(s.buf[pos])
			case 4:
				n = uint64(binary.LittleEndian.Uint32(s.buf[pos:]))
				if (op == opBinstring || op == opLong4) && int32(n) < 0 {
					return fail(fmt.Errorf("%w: negative length", ErrSyntax))
				}
			case 8:
				n = binary.LittleEndian.Uint64(s.buf[pos:])
			}
			pos += size
			if n > uint64(s.maxString) {
				return fail(&LimitError{Limit: "MaxStringLen", Max: int64(s.maxString), Got: int64(min(n, math.MaxInt64))})
			}
			if err := s.ensure(pos + int(n)); err != nil {
				return fail(err)
			}
			pos += int(n)
		}
		if op == opStop {
			return pos, nil
		}
	}
}

// Protocol reports the protocol a pickle was written with: the argument of
// its PROTO opcode (protocols 2 and up always start with one), or else 0
// or 1 as judged by its opcodes.
func Protocol(data []byte) (int, error) {
	s := scanner{buf: data, maxString: math.MaxInt}
	if _, err := s.scan(); err != nil {
		if err == io.EOF {
			return 0, &DecodeError{Err: ErrTruncated}
		}
		return 0, err
	}
	if s.sawProto && s.proto > HighestProtocol {
		return s.proto, &DecodeError{Opcode: opProto, Err: fmt.Errorf("%w: %d", ErrProtocol, s.proto)}
	}
	return s.proto, nil
}

// A Decoder reads successive pickles from a stream. It buffers input, so
// it may read past the end of a pickle; Buffered returns what it holds. A
// Decoder is not safe for concurrent use.
type Decoder struct {
	r    io.Reader
	cfg  decodeConfig
	buf  []byte // buf[off:] is unread input
	off  int
	rerr error // sticky read error
}

// NewDecoder returns a Decoder reading from r with default options.
func NewDecoder(r io.Reader) *Decoder { return DecodeOptions{}.NewDecoder(r) }

// NewDecoder returns a Decoder reading from r with options o.
func (o DecodeOptions) NewDecoder(r io.Reader) *Decoder {
	cfg := o.config()
	cfg.ShareLarge = false // the buffer is reused: values may not share it
	return &Decoder{r: r, cfg: cfg}
}

// Buffered returns the input read from the stream but not yet decoded.
func (dec *Decoder) Buffered() io.Reader { return bytes.NewReader(dec.buf[dec.off:]) }

// more reads until at least need unread bytes are buffered.
func (dec *Decoder) more(need int) ([]byte, error) {
	for len(dec.buf)-dec.off < need {
		if dec.rerr != nil {
			return dec.buf[dec.off:], dec.rerr
		}
		if dec.off > 0 && dec.off == len(dec.buf) {
			dec.buf, dec.off = dec.buf[:0], 0
		}
		if cap(dec.buf)-len(dec.buf) < 4096 || cap(dec.buf)-len(dec.buf) < need-(len(dec.buf)-dec.off) {
			// Grow by what is needed, at most doubling: a declared length
			// is only trusted as far as bytes arrive.
			grow := max(4096, min(need-(len(dec.buf)-dec.off), 2*cap(dec.buf)+4096))
			nb := make([]byte, len(dec.buf)-dec.off, len(dec.buf)-dec.off+grow)
			copy(nb, dec.buf[dec.off:])
			dec.buf, dec.off = nb, 0
		}
		n, err := dec.r.Read(dec.buf[len(dec.buf):cap(dec.buf)])
		dec.buf = dec.buf[:len(dec.buf)+n]
		if err != nil {
			dec.rerr = err
		}
	}
	return dec.buf[dec.off:], nil
}

// Decode reads the next pickle from the stream and stores its value in v,
// as Unmarshal does. At the end of the stream it returns io.EOF; a pickle
// cut short gives a *DecodeError matching io.ErrUnexpectedEOF.
func (dec *Decoder) Decode(v any) error {
	if err := checkTarget(v); err != nil {
		return err
	}
	s := scanner{buf: dec.buf[dec.off:], more: dec.more, maxString: dec.cfg.maxString}
	n, err := s.scan()
	if err != nil {
		if err == io.EOF && dec.rerr != nil && dec.rerr != io.EOF {
			return dec.rerr
		}
		return err
	}
	data := dec.buf[dec.off : dec.off+n]
	dec.off += n
	if dec.cfg.ZeroCopy {
		// The buffer is reused for what follows: give the values their own.
		data = bytes.Clone(data)
	}
	return dec.cfg.unmarshal(data, v)
}

// An Encoder writes pickles to a stream, one per Encode call. Each pickle
// is encoded completely before anything is written, so a failed encoding
// writes nothing. Large str, bytes and bytearray payloads are not copied:
// the pickle goes out as the segments of AppendMarshalBuffers, in one
// net.Buffers.WriteTo (one writev on a socket; one Write per segment on
// other writers). An Encoder is not safe for concurrent use.
type Encoder struct {
	w    io.Writer
	opts EncodeOptions
	buf  []byte
	vec  net.Buffers
}

// NewEncoder returns an Encoder writing to w with default options.
func NewEncoder(w io.Writer) *Encoder { return EncodeOptions{}.NewEncoder(w) }

// NewEncoder returns an Encoder writing to w with options o.
func (o EncodeOptions) NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: w, opts: o}
}

// Encode writes the pickle of v, as Marshal encodes it. The values in v
// are not referred to once Encode returns.
func (enc *Encoder) Encode(v any) error {
	vec, err := enc.opts.AppendMarshalBuffers(enc.vec[:0], enc.buf[:0], v)
	if err != nil {
		return err
	}
	if len(vec) == 1 {
		if cap(vec[0]) <= 1<<20 {
			enc.buf = vec[0][:0] // reuse moderate buffers
		}
		_, err = enc.w.Write(vec[0])
		vec[0] = nil
		enc.vec = vec[:0]
		return err
	}
	enc.vec = vec
	_, err = enc.vec.WriteTo(enc.w)
	clear(vec[:cap(vec)]) // WriteTo consumed enc.vec; vec still sees the caller's payloads
	if cap(vec) <= 1024 {
		enc.vec = vec[:0]
	} else {
		enc.vec = nil
	}
	return err
}
