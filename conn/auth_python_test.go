//go:build unix

package conn

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
)

// authAnswerPeer runs each interpreter's own answer_challenge on one end of
// a multiprocessing.Pipe, for every challenge given in hex, and prints the
// responses it sent, in hex, as a JSON list.
const authAnswerPeer = `
import binascii, json, sys
from multiprocessing import Pipe
from multiprocessing import connection as mpc
key = binascii.unhexlify(sys.argv[1])
out = []
for h in sys.argv[2:]:
    a, b = Pipe()
    b.send_bytes(b'#CHALLENGE#' + binascii.unhexlify(h))
    b.send_bytes(b'#WELCOME#')
    mpc.answer_challenge(a, key)
    out.append(binascii.hexlify(b.recv_bytes()).decode('ascii'))
sys.stdout.write(json.dumps(out) + '\n')
`

// The vectors TestAnswerMatchesCPython and
// TestDeliverLegacyResponseToModernChallenge hold Go to are what the
// interpreters answer today: CPython 3.12 and newer answer each "{name}"
// challenge with cpythonResponses[name], every version answers the 20-byte
// legacy challenge with cpythonResponses[legacy-md5], and 2.7–3.11 answer a
// "{sha256}" challenge with cpythonLegacyOverModern.
func TestCPythonResponseVectors(t *testing.T) {
	var modern, legacyOverModern atomic.Int32
	digests := []Digest{DigestMD5, DigestSHA256, DigestSHA384, DigestSHA3_256, DigestSHA3_384, DigestLegacyMD5}
	t.Run("matrix", func(t *testing.T) {
		pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
			t.Parallel()
			args := []string{"-c", authAnswerPeer, hex.EncodeToString(testKey)}
			for _, d := range digests {
				args = append(args, hex.EncodeToString(cpythonChallenge(d)))
			}
			out, err := p.Command(args...).Output()
			require.NoError(t, err, "python %s: %s", p.Version, exitStderr(err))
			var got []string
			require.NoError(t, json.Unmarshal(out, &got), "python %s printed %q", p.Version, out)
			require.Len(t, got, len(digests))
			for i, d := range digests {
				switch {
				case d == DigestLegacyMD5 || p.AtLeast(3, 12):
					assert.Equal(t, cpythonResponses[d], got[i], "python %s, %s challenge", p.Version, d)
					if d != DigestLegacyMD5 {
						modern.Add(1)
					}
				case d == DigestSHA256:
					assert.Equal(t, cpythonLegacyOverModern, got[i], "python %s, %s challenge", p.Version, d)
					legacyOverModern.Add(1)
				default:
					// Older Pythons answer every modern challenge with a raw
					// HMAC-MD5; the sha256 one stands for them.
					assert.Len(t, got[i], 32, "python %s, %s challenge: 16 raw bytes", p.Version, d)
				}
			}
		})
	})
	// A table no interpreter confirmed is no evidence.
	if len(pymatrix.Required()) > 0 {
		assert.NotZero(t, modern.Load(), "no Python 3.12+ checked cpythonResponses")
		assert.NotZero(t, legacyOverModern.Load(), "no Python before 3.12 checked cpythonLegacyOverModern")
	}
}

// exitStderr is the stderr an exec.ExitError kept, for a failure message.
func exitStderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
