package main

import (
	"github.com/pipebridge/pipebridge/pickle"
)

// repickle decodes one pickle and encodes it again with our codec, at
// proto, or at the protocol it was written in when proto is -1. Python 2
// strs stay Python 2 strs, so a value comes back as it went out.
func repickle(body []byte, proto int) ([]byte, error) {
	var v any
	if err := decodeOptions.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	if proto < 0 {
		p, err := pickle.Protocol(body)
		if err != nil {
			return nil, err
		}
		proto = p
	}
	return encodeOptions(proto).Marshal(v)
}
