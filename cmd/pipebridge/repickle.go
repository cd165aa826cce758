package main

import (
	"bytes"

	ogórek "github.com/kisielk/og-rek"
)

// repickle decodes one pickle and encodes it again at proto, or at the
// protocol it was written in when proto is -1.
func repickle(body []byte, proto int) ([]byte, error) {
	if proto < 0 {
		proto = 0
		if len(body) >= 2 && body[0] == 0x80 {
			proto = int(body[1])
		}
	}
	dec := ogórek.NewDecoderWithConfig(bytes.NewReader(body), &ogórek.DecoderConfig{StrictUnicode: true, PyDict: true})
	v, err := dec.Decode()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := ogórek.NewEncoderWithConfig(&out, &ogórek.EncoderConfig{Protocol: proto}).Encode(v); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
