package conn

import (
	"errors"
	"fmt"
)

var (
	// ErrNotReadable is returned by receiving calls on a write-only end, such
	// as the second Conn of OneWayPipe.
	ErrNotReadable = errors.New("conn: connection is write-only")
	// ErrNotWritable is returned by sending calls on a read-only end, such
	// as the first Conn of OneWayPipe.
	ErrNotWritable = errors.New("conn: connection is read-only")
)

// MessageTooLargeError reports a message whose length exceeds the limit in
// force. When receiving, the Conn has been closed (as Python closes its
// Connection with "bad message length"), because the stream cannot be
// resynchronised once a body is refused. When sending, nothing was written
// and the Conn stays usable.
type MessageTooLargeError struct {
	Size    uint64 // the length declared by the header, or of the body to send
	Max     int64  // the limit that refused it
	Sending bool   // true when the refused message was ours to send
}

func (e *MessageTooLargeError) Error() string {
	if e.Sending {
		return fmt.Sprintf("conn: message of %d bytes exceeds the limit of %d bytes; nothing was sent", e.Size, e.Max)
	}
	return fmt.Sprintf("conn: bad message length: peer announced %d bytes, limit is %d; connection closed", e.Size, e.Max)
}

// FrameError reports a frame header that no CPython peer can produce, such as
// a negative length other than the -1 that introduces an 8-byte length. The
// Conn has been closed: the stream cannot be resynchronised.
type FrameError struct {
	Header []byte // the raw header bytes read
	Reason string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("conn: bad frame header % x: %s; connection closed", e.Header, e.Reason)
}

// EncodeError reports a value the Codec could not encode. Nothing was
// written and the Conn stays usable.
type EncodeError struct {
	Err error
}

func (e *EncodeError) Error() string { return "conn: cannot encode message: " + e.Err.Error() }
func (e *EncodeError) Unwrap() error { return e.Err }

// DecodeError reports a message body the Codec could not decode. The frame
// was read whole, so the Conn stays usable and the next Recv reads the next
// message. Body holds the raw message.
type DecodeError struct {
	Body []byte
	Err  error
}

func (e *DecodeError) Error() string { return "conn: cannot decode message: " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// BufferTooShortError is returned by RecvBytesInto when the message does not
// fit in the buffer, as Python raises BufferTooShort. It carries the whole
// message; the Conn stays usable.
type BufferTooShortError struct {
	Message []byte
}

func (e *BufferTooShortError) Error() string {
	return fmt.Sprintf("conn: buffer too short for a message of %d bytes", len(e.Message))
}
