package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/bridge"
)

func TestServeManagerUsage(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"serve-manager"}, 2, "serve-manager takes one ADDRESS"},
		{[]string{"serve-manager", "a", "b"}, 2, "serve-manager takes one ADDRESS"},
		{[]string{"serve-manager", "x", "--authkey-env", "UNSET"}, 2, "environment variable UNSET is not set"},
		{[]string{"serve-manager", "0.0.0.0:0"}, 1, "refusing to listen on a non-loopback TCP address"},
		{[]string{"serve-manager", "-h"}, 0, "listening ADDRESS"},
	} {
		status, stdout, stderr := runCommand(t, nil, tt.args...)
		assert.Equal(t, tt.status, status, "%v: %s", tt.args, stderr)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, tt.stderr)
	}
}

// The demo objects, called by a Go client; a client's shutdown request
// ends the command with status 0.
func TestServeManagerDemo(t *testing.T) {
	r := startRun(t, nil, map[string]string{"K": "key"}, "serve-manager", "127.0.0.1:0", "--authkey-env", "K")
	addr := r.listening(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := bridge.DialManager(ctx, addr, []byte("key"), nil)
	require.NoError(t, err)
	calc, err := m.Create(ctx, "calc")
	require.NoError(t, err)
	got, err := calc.Call(ctx, "add", "go", "py")
	require.NoError(t, err)
	assert.Equal(t, "gopy", got)
	_, err = calc.Call(ctx, "divide", 1, 0)
	var pe *bridge.PythonError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "ZeroDivisionError", pe.Type)
	k, err := m.Create(ctx, "counter", 10)
	require.NoError(t, err)
	var n int
	require.NoError(t, k.CallInto(ctx, &n, "incr", 5))
	assert.Equal(t, 15, n)
	require.NoError(t, m.Shutdown(ctx))
	status, _ := r.wait(t)
	assert.Equal(t, 0, status, r.stderr.String())
}
