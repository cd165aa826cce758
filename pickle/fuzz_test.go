package pickle

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// FuzzDecode checks properties of decoding arbitrary input:
//   - no panic, and failures are *DecodeError;
//   - memory allocated stays within a fixed multiple of the input size;
//   - what decodes re-encodes at protocol 5, decoding that gives an equal
//     value, and encoding that gives the same bytes;
//   - at protocol 2, which renames globals spelled the Python 2 way as
//     Python does, values and bytes are stable from the second round;
//   - small MaxMemo and MaxStringLen, which send MEMOIZE and short strs off
//     their fast paths, give the same value or a LimitError;
//   - the encoder's inline paths (runs of numbers, hot strs) write the same
//     bytes as the general path, which a PersistentID hook that returns
//     nil forces.
//
// Seeds are CPython's pickles from testdata/golden.json and the regressions
// and hand-made fast-path inputs (fastpath_*) in testdata/fuzz/FuzzDecode.
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
	rng := rand.New(rand.NewPCG(7, 8))
	f.Add(strRunPickle(rng, 40, 40, true, true))
	f.Add(strRunPickle(rng, 40, 12, false, false))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeBothWays(t, DecodeOptions{}, data) // strRun takes what the main loop takes
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var v any
		err := Unmarshal(data, &v)
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20+256*uint64(len(data)) {
			t.Fatalf("decoding %d bytes allocated %d", len(data), n)
		}
		var lv any
		lerr := DecodeOptions{MaxMemo: 3, MaxStringLen: 9}.Unmarshal(data, &lv)
		switch {
		case lerr == nil && err != nil:
			t.Fatalf("decodes with small limits but not without: %v", err)
		case lerr == nil && !Equal(v, lv):
			t.Fatalf("small limits changed the value\n%s\ninto\n%s", describe(v), describe(lv))
		case lerr != nil && err == nil && !errors.Is(lerr, ErrLimit):
			t.Fatalf("small limits: error is not a LimitError: %v", lerr)
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
			hooked := opts
			hooked.PersistentID = func(any) (any, error) { return nil, nil }
			if hb, err := hooked.Marshal(v); err != nil || !bytes.Equal(hb, b1) {
				t.Fatalf("protocol %d: inline paths and general path differ (%v)\n%q\n%q", proto, err, b1, hb)
			}
			v2 := mustDecode(t, proto, b1)
			b2, err := opts.Marshal(v2)
			if err != nil {
				t.Fatalf("protocol %d: re-encoding: %v", proto, err)
			}
			if proto == 5 {
				if !Equal(v, v2) {
					t.Fatalf("protocol 5: round trip changed\n%s\ninto\n%s", describe(v), describe(v2))
				}
				if !bytes.Equal(b1, b2) {
					t.Fatalf("protocol 5: encoding not stable\n%q\n%q", b1, b2)
				}
				continue
			}
			// Protocols below 3 map Python 2 module names on loading, as
			// Python does, so a global spelled the Python 2 way in a newer
			// pickle comes back renamed (and may then read as a standard
			// construction): stability holds from the second round on.
			v3 := mustDecode(t, proto, b2)
			b3, err := opts.Marshal(v3)
			if err != nil {
				t.Fatalf("protocol %d: re-encoding: %v", proto, err)
			}
			if !Equal(v2, v3) || !bytes.Equal(b2, b3) {
				t.Fatalf("protocol %d: not stable\n%q\n%q", proto, b2, b3)
			}
		}
	})
}

func mustDecode(t *testing.T, proto int, data []byte) any {
	t.Helper()
	var v any
	if err := Unmarshal(data, &v); err != nil {
		t.Fatalf("protocol %d: decoding our own %q: %v", proto, data, err)
	}
	return v
}
