package conn

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
)

// Family is the kind of an Address, as Python's
// multiprocessing.connection.address_type tells them apart.
type Family int

const (
	// FamilyTCP is a TCP address, "host:port" or "[ipv6]:port"; Python's
	// ('host', port), AF_INET. Python's Client reaches IPv4 only; a Python
	// Listener listens on IPv6 when given family='AF_INET6'.
	FamilyTCP Family = iota + 1
	// FamilyUnix is a Unix socket path; Python's address string, AF_UNIX.
	FamilyUnix
	// FamilyAbstract is a Linux abstract socket, "@name" here as in Go's
	// net package; Python writes it '\0name'.
	FamilyAbstract
	// FamilyPipe is a Windows named pipe, `\\.\pipe\name`; Python's
	// AF_PIPE. Parsed, but Listen and Dial refuse it: not implemented.
	FamilyPipe
)

func (f Family) String() string {
	switch f {
	case FamilyTCP:
		return "tcp"
	case FamilyUnix:
		return "unix"
	case FamilyAbstract:
		return "abstract"
	case FamilyPipe:
		return "pipe"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// Address is where a Listener listens and a Client connects. Its String
// form is what ParseAddress, Listen and Dial take; Python gives the Python
// expression for the same address. Address implements net.Addr.
type Address struct {
	Family Family
	Host   string // FamilyTCP: host name or IP literal, without brackets; empty for all interfaces
	Port   int    // FamilyTCP
	Path   string // FamilyUnix: the path; FamilyAbstract: the name without '@'; FamilyPipe: the whole `\\.\pipe\name`
}

var _ net.Addr = Address{}

// ParseAddress reads an address in the forms Python's address_type tells
// apart, written as Go strings:
//
//	""                   no address: Listen picks one (see Listen)
//	`\\.\pipe\name`      FamilyPipe (anything starting with two backslashes)
//	"@name", "\x00name"  FamilyAbstract; "@" alone: Listen picks a fresh name
//	"host:port"          FamilyTCP, port a number 0–65535; "[::1]:port" for IPv6
//	anything else        FamilyUnix: a path, relative or absolute
//
// As in Python, a string without a port ("localhost") is a Unix path. A
// path with a NUL byte inside is an error.
func ParseAddress(s string) (Address, error) {
	switch {
	case s == "":
		return Address{}, nil
	case strings.HasPrefix(s, `\\`):
		return Address{Family: FamilyPipe, Path: s}, nil
	case s[0] == '@' || s[0] == 0:
		return Address{Family: FamilyAbstract, Path: s[1:]}, nil
	}
	if host, port, err := net.SplitHostPort(s); err == nil && !strings.ContainsAny(host, `/\`) {
		if p, ok := parsePort(port); ok {
			return Address{Family: FamilyTCP, Host: host, Port: p}, nil
		}
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Address{}, fmt.Errorf("conn: address %q: a path cannot contain NUL", s)
	}
	return Address{Family: FamilyUnix, Path: s}, nil
}

func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	p, err := strconv.Atoi(s)
	return p, err == nil && p <= 65535
}

// String returns the address in the form ParseAddress reads; the zero
// Address is "".
func (a Address) String() string {
	switch a.Family {
	case FamilyTCP:
		return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
	case FamilyAbstract:
		return "@" + a.Path
	case FamilyUnix, FamilyPipe:
		return a.Path
	}
	return ""
}

// Network returns the net package's network name: "tcp", "unix" (for
// abstract sockets too) or "pipe".
func (a Address) Network() string {
	switch a.Family {
	case FamilyTCP:
		return "tcp"
	case FamilyUnix, FamilyAbstract:
		return "unix"
	case FamilyPipe:
		return "pipe"
	}
	return ""
}

// Python returns the address as a Python expression that
// multiprocessing.connection.Client and Listener take, e.g.
// ('127.0.0.1', 5000), '/tmp/sock' or '\x00name'. Control characters are
// escaped; other non-ASCII characters are written as they are (UTF-8), which
// Python 3 reads as str.
func (a Address) Python() string {
	switch a.Family {
	case FamilyTCP:
		return "(" + pyQuote(a.Host) + ", " + strconv.Itoa(a.Port) + ")"
	case FamilyAbstract:
		return pyQuote("\x00" + a.Path)
	case FamilyUnix, FamilyPipe:
		return pyQuote(a.Path)
	}
	return "None"
}

func pyQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// addressOf turns what the net package reports into an Address.
func addressOf(na net.Addr) Address {
	switch na := na.(type) {
	case *net.TCPAddr:
		host := na.IP.String()
		if na.Zone != "" {
			host += "%" + na.Zone
		}
		return Address{Family: FamilyTCP, Host: host, Port: na.Port}
	case *net.UnixAddr:
		if strings.HasPrefix(na.Name, "@") {
			return Address{Family: FamilyAbstract, Path: na.Name[1:]}
		}
		return Address{Family: FamilyUnix, Path: na.Name}
	}
	a, _ := ParseAddress(na.String())
	return a
}

// netAddress returns the network and address to give the net package, or
// an error for the families this platform cannot reach.
func (a Address) netAddress() (network, address string, err error) {
	switch a.Family {
	case FamilyTCP:
		return "tcp", a.String(), nil
	case FamilyUnix:
		return "unix", a.Path, nil
	case FamilyAbstract:
		if runtime.GOOS != "linux" && runtime.GOOS != "android" {
			return "", "", fmt.Errorf("conn: %s: abstract sockets exist on Linux only: %w", a, errors.ErrUnsupported)
		}
		return "unix", "@" + a.Path, nil
	case FamilyPipe:
		return "", "", fmt.Errorf("conn: %s: Windows named pipes are not implemented, use a TCP address: %w", a, errors.ErrUnsupported)
	}
	return "", "", errors.New("conn: empty address")
}
