package pickle

import (
	"errors"
	"fmt"
)

// ClassPolicy says which Python globals (the classes and functions that
// the GLOBAL, STACK_GLOBAL, INST and EXT opcodes name) a pickle may name;
// see DecodeOptions.Classes.
type ClassPolicy uint8

const (
	// AnyClass accepts every global. This is safe for the decoding
	// process, which never imports or calls anything: an instance of an
	// unknown class decodes to an *Object that records its class and
	// contents.
	AnyClass ClassPolicy = iota
	// KnownClasses accepts only the globals listed under
	// DecodeOptions.Classes and fails on any other with an error matching
	// ErrForbiddenClass, at the opcode that names it.
	KnownClasses
)

func (p ClassPolicy) String() string {
	switch p {
	case AnyClass:
		return "AnyClass"
	case KnownClasses:
		return "KnownClasses"
	}
	return fmt.Sprintf("ClassPolicy(%d)", uint8(p))
}

// ErrForbiddenClass is the error for a global that DecodeOptions.Classes
// does not accept. The *DecodeError that wraps it names the opcode and its
// offset, and its message names the global.
var ErrForbiddenClass = errors.New("class not allowed")

// structuralGlobals are the globals Python's pickler itself writes for
// built-in types (sets, frozensets, bytes, bytearrays and complex numbers
// at low protocols, objects through copyreg), which the decoder resolves
// without producing an *Object of that class.
var structuralGlobals = map[Global]bool{
	gSet: true, gFrozenset: true, gBytes: true, gBytearray: true, gComplex: true,
	gObject: true, gList: true, gDict: true, gEncode: true, gGetattr: true,
	gReconstructor: true, gNewobj: true, gNewobjEx: true,
	{"builtins", "tuple"}: true,
}

// modelledGlobals are the standard-library and numpy classes whose
// instances this package decodes into Go types of its own (time.Time,
// Decimal, UUID, NDArray, ...): see the package documentation's table.
// They are the names the stdlib and numpy decoders use, so the two
// cannot drift apart.
var modelledGlobals = func() map[Global]bool {
	m := map[Global]bool{}
	for _, g := range []Global{
		gDatetime, gDate, gTimeOfDay, gTimedelta, gTimezone, gZoneInfo, gZoneInfoUnpickle,
		gDecimal, gFraction, gUUID, gOrderedDict, gDeque,
		{"collections", "Counter"}, {"collections", "defaultdict"},
		gNDArray, gDType, gReconstruct1, gReconstruct2, gFromBuffer1, gFromBuffer2,
	} {
		m[g] = true
	}
	for name := range pathClasses {
		m[Global{"pathlib", name}] = true
	}
	return m
}()

// allowGlobal reports whether the options let a pickle name g (already
// mapped from its Python 2 name).
func (c *decodeConfig) allowGlobal(g Global) bool {
	if c.Classes == AnyClass {
		return true
	}
	if structuralGlobals[g] || modelledGlobals[g] {
		return true
	}
	for _, a := range c.AllowGlobals {
		if a == g {
			return true
		}
	}
	if r := c.registry(); !r.empty() && r.byPyClass(g) != nil {
		return true
	}
	return false
}

// global returns g mapped from its Python 2 name (for protocols 0 to 2),
// or an error if the options do not accept it.
func (d *decoder) global(g Global) (Global, error) {
	g = d.fixName(g)
	if !d.cfg.allowGlobal(g) {
		return Global{}, fmt.Errorf("%w: %s.%s (DecodeOptions.Classes is KnownClasses)", ErrForbiddenClass, g.Module, g.Name)
	}
	return g, nil
}
