package main

import (
	"errors"
	"flag"
	"strconv"

	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/pickle"
)

// authFlag is --authkey-env: the name of the environment variable holding
// the key, never the key itself, which would show in a process listing.
func authFlag(fs *flag.FlagSet) *string {
	return fs.String("authkey-env", "", "read the authentication key (Python's authkey) from environment `VAR`; without it, no key")
}

// authFromEnv returns the handshake that the key in environment variable
// name asks for, or no handshake when name is empty.
//
// The key is the variable's value as bytes, as Python's
// os.environ[name].encode() gives it. An unset or empty variable is an
// error rather than "no key": a typo must not turn authentication off.
//
// Every response that CPython 3.12 accepts is accepted (AllDigests), so
// that Python 2.7 to 3.11, which answer a modern challenge with legacy
// HMAC-MD5, can connect; a Python 3.12+ Listener does the same.
func authFromEnv(e *env, name string) (conn.Auth, error) {
	if name == "" {
		return conn.Auth{}, nil
	}
	v, ok := e.lookupEnv(name)
	if !ok {
		return conn.Auth{}, usagef("--authkey-env: environment variable %s is not set", name)
	}
	if v == "" {
		return conn.Auth{}, usagef("--authkey-env: environment variable %s is empty (leave out --authkey-env for no key)", name)
	}
	return conn.Auth{Key: []byte(v), AcceptDigests: conn.AllDigests()}, nil
}

// checkProtocol validates a --protocol value.
func checkProtocol(p int) error {
	if p < 0 || p > pickle.HighestProtocol {
		return usagef("--protocol must be 0 to %d, not %d", pickle.HighestProtocol, p)
	}
	return nil
}

// encodeOptions returns the options that write protocol p, 0 to 5.
func encodeOptions(p int) pickle.EncodeOptions {
	if p == 0 {
		return pickle.EncodeOptions{Protocol: pickle.Protocol0}
	}
	return pickle.EncodeOptions{Protocol: p}
}

// decodeOptions decode what a peer sends without loss: a Python 2 str
// stays a ByteString, which encodes back as a Python 2 str.
var decodeOptions = pickle.DecodeOptions{Py2Str: pickle.Py2StrByteString}

// optionalInt is an int flag that may be left out: no "(default ...)" in
// the usage, and value reports -1 when it was not given.
type optionalInt struct {
	n   int
	set bool
}

func (o *optionalInt) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.Itoa(o.n)
}

func (o *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not a number")
	}
	o.n, o.set = n, true
	return nil
}

func (o *optionalInt) value() int {
	if !o.set {
		return -1
	}
	return o.n
}

func optionalIntFlag(fs *flag.FlagSet, name, usage string) *optionalInt {
	o := &optionalInt{}
	fs.Var(o, name, usage)
	return o
}
