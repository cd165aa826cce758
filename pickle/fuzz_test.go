package pickle

import (
	"bytes"
	"encoding/hex"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// FuzzDecode checks properties of decoding arbitrary input:
//   - no panic, and failures are *DecodeError;
//   - memory allocated stays within a fixed multiple of the input size;
//   - what decodes re-encodes (at protocols 2 and 5), and decoding that
//     gives an equal value (at protocol 5; protocol 2 renames globals with
//     Python 2 names, as Python does), whose encoding is then stable byte
//     for byte.
//
// Seeds are CPython's pickles from testdata/golden.json and the regressions
// in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	g := loadGolden(f)
	for _, protos := range g.Cases {
		for _, h := range protos {
			if strings.HasPrefix(h, "sha256:") {
				continue
			}
			b, err := hex.DecodeString(h)
			if err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{
		"\x80\x02]q\x00h\x00a.",                     // list containing itself
		"\x80\x02]q\x00\x85q\x01h\x00K\x01a0h\x01.", // list grown after it was stored
		"(lp0\nI1\nag0\na.",
		"cbuiltins\nset\n(]K\x01a\x85R.",
		"\x80\x05\x96\x02\x00\x00\x00\x00\x00\x00\x00ab\x98.",
		"\x80\x02cm\nC\n)\x81}b.",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var v any
		err := Unmarshal(data, &v)
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20+256*uint64(len(data)) {
			t.Fatalf("decoding %d bytes allocated %d", len(data), n)
		}
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is %T, not *DecodeError: %v", err, err)
			}
			return
		}
		for _, proto := range []int{2, 5} {
			opts := EncodeOptions{Protocol: proto}
			b1, err := opts.Marshal(v)
			if err != nil {
				var ee *EncodeError
				if !errors.As(err, &ee) {
					t.Fatalf("protocol %d: error is %T, not *EncodeError: %v", proto, err, err)
				}
				if proto == 5 {
					t.Fatalf("protocol 5 cannot encode %s: %v", describe(v), err)
				}
				continue
			}
			var v2 any
			if err := Unmarshal(b1, &v2); err != nil {
				t.Fatalf("protocol %d: decoding our own %q: %v", proto, b1, err)
			}
			// Protocols below 3 map Python 2 module names on loading, so a
			// global named with one (found in a protocol 3+ pickle) comes
			// back renamed, as it does in Python; protocol 5 is exact.
			if proto == 5 && !Equal(v, v2) {
				t.Fatalf("protocol %d: round trip changed\n%s\ninto\n%s", proto, describe(v), describe(v2))
			}
			b2, err := opts.Marshal(v2)
			if err != nil {
				t.Fatalf("protocol %d: re-encoding: %v", proto, err)
			}
			if !bytes.Equal(b1, b2) {
				t.Fatalf("protocol %d: encoding not stable\n%q\n%q", proto, b1, b2)
			}
		}
	})
}
