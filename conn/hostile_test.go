//go:build unix

package conn

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/internal/leakcheck"
)

// A Go Listener with the default options, with and without a key, while
// nearly all of its pending slots (MaxPending) are held by peers that say
// nothing and thousands of connections are opened and dropped, half of them
// with a reset: every connection reaches Accept exactly once, as a Conn or
// as an error, honest clients keep getting answers quickly, and Close
// leaves no goroutine or descriptor behind, with the silent peers still
// connected. (TestListenerSurvivesBadPeers covers garbage, lies and peers
// killed mid-frame; cmd/pipebridge's TestEchoListenHostile all of it
// against the echo server, with Python clients.)
func TestListenerHostileChurn(t *testing.T) {
	const (
		siege  = 2 * time.Second // well inside the 10 s handshake timeout
		silent = DefaultMaxPending - 8
		bound  = 5 * time.Second // an honest round trip, connect included
	)
	for _, keyed := range []bool{true, false} {
		t.Run(fmt.Sprintf("key=%v", keyed), func(t *testing.T) {
			leakcheck.Check(t)
			var auth Auth
			if keyed {
				auth = Auth{Key: faultKey}
			}
			l, err := Listen("127.0.0.1:0", &ListenOptions{Auth: auth})
			require.NoError(t, err)
			addr := l.Addr().String()

			// The server: echo on every connection; count what Accept gives.
			var accepted, failed atomic.Int64
			var serving sync.WaitGroup
			serving.Add(1)
			go func() {
				defer serving.Done()
				for {
					c, err := l.Accept()
					if errors.Is(err, net.ErrClosed) {
						return
					}
					if err != nil {
						failed.Add(1)
						continue
					}
					accepted.Add(1)
					serving.Add(1)
					go func() {
						defer serving.Done()
						defer c.Close()
						for {
							b, err := c.RecvBytes()
							if err != nil || c.SendBytes(b) != nil {
								return
							}
						}
					}()
				}
			}()

			var silentConns []net.Conn
			for range silent {
				nc, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				silentConns = append(silentConns, nc)
			}
			defer func() {
				for _, nc := range silentConns {
					nc.Close()
				}
			}()

			deadline := time.Now().Add(siege)
			var wg sync.WaitGroup
			var churned, honestDials, rounds atomic.Int64
			var mu sync.Mutex
			var worst time.Duration
			var problems []string
			problem := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				if len(problems) < 10 {
					problems = append(problems, fmt.Sprintf(format, args...))
				}
			}
			for w := range 4 {
				wg.Add(2)
				go func() { // churn
					defer wg.Done()
					for i := 0; time.Now().Before(deadline); i++ {
						nc, err := net.Dial("tcp", addr)
						if err != nil {
							problem("churn dial: %v", err)
							return
						}
						churned.Add(1)
						if i%2 == 0 {
							nc.(*net.TCPConn).SetLinger(0)
						}
						nc.Close()
						time.Sleep(time.Millisecond)
					}
				}()
				go func() { // honest
					defer wg.Done()
					for r := 0; time.Now().Before(deadline); r++ {
						start := time.Now()
						c, err := Dial(addr, &DialOptions{Auth: auth})
						if err != nil {
							problem("honest dial: %v", err)
							continue
						}
						honestDials.Add(1)
						for k := range 5 {
							msg := []byte(fmt.Sprintf("client %d round %d message %d", w, r, k))
							if err := c.SendBytes(msg); err != nil {
								problem("honest send: %v", err)
								break
							}
							got, err := c.RecvBytes()
							if err != nil || string(got) != string(msg) {
								problem("honest echo: %q, %v", got, err)
								break
							}
							rounds.Add(1)
						}
						c.Close()
						mu.Lock()
						worst = max(worst, time.Since(start))
						mu.Unlock()
					}
				}()
			}
			wg.Wait()

			// Every churned connection reaches Accept: as a failed
			// handshake with a key, as a Conn without one. The silent
			// peers are still in their handshakes (key) or were accepted.
			wantFailed, wantAccepted := churned.Load(), honestDials.Load()
			if !keyed {
				wantFailed, wantAccepted = 0, honestDials.Load()+silent+churned.Load()
			}
			for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
				if failed.Load() >= wantFailed && accepted.Load() >= wantAccepted {
					break
				}
			}
			require.NoError(t, l.Close())
			for _, nc := range silentConns {
				nc.Close()
			}
			serving.Wait()

			t.Logf("%d connections opened and dropped, %d silent; %d honest connections, %d round trips, slowest %v; Accept: %d conns, %d errors",
				churned.Load(), silent, honestDials.Load(), rounds.Load(), worst.Round(time.Millisecond), accepted.Load(), failed.Load())
			assert.Empty(t, problems)
			assert.Positive(t, rounds.Load())
			assert.Less(t, worst, bound, "slowest honest connection")
			assert.Equal(t, wantFailed, failed.Load(), "failed handshakes")
			assert.Equal(t, wantAccepted, accepted.Load(), "accepted connections")
		})
	}
}
