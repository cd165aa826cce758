package pickle

import "encoding/binary"

// The pickle opcodes, named as in CPython's pickletools.opcodes, which is
// their specification.
const (
	opMark            byte = '('    // push markobject
	opStop            byte = '.'    // end of pickle
	opPop             byte = '0'    // discard top of stack
	opPopMark         byte = '1'    // discard through topmost mark
	opDup             byte = '2'    // duplicate top of stack
	opFloat           byte = 'F'    // float; decimal text line
	opInt             byte = 'I'    // int (or bool I00/I01); decimal text line
	opBinint          byte = 'J'    // int; 4-byte signed
	opBinint1         byte = 'K'    // int; 1-byte unsigned
	opLong            byte = 'L'    // int; decimal text line with optional L
	opBinint2         byte = 'M'    // int; 2-byte unsigned
	opNone            byte = 'N'    // None
	opPersid          byte = 'P'    // persistent id; text line
	opBinpersid       byte = 'Q'    // persistent id; top of stack
	opReduce          byte = 'R'    // callable(*args)
	opString          byte = 'S'    // py2 str; quoted text line
	opBinstring       byte = 'T'    // py2 str; 4-byte length
	opShortBinstring  byte = 'U'    // py2 str; 1-byte length
	opUnicode         byte = 'V'    // str; raw-unicode-escape text line
	opBinunicode      byte = 'X'    // str; 4-byte length, UTF-8
	opAppend          byte = 'a'    // list.append
	opBuild           byte = 'b'    // __setstate__ or __dict__ update
	opGlobal          byte = 'c'    // module\nname\n
	opDict            byte = 'd'    // dict from mark
	opEmptyDict       byte = '}'    // {}
	opAppends         byte = 'e'    // list.extend from mark
	opGet             byte = 'g'    // memo get; decimal text line
	opBinget          byte = 'h'    // memo get; 1-byte index
	opInst            byte = 'i'    // class(*args from mark); module\nname\n
	opLongBinget      byte = 'j'    // memo get; 4-byte index
	opList            byte = 'l'    // list from mark
	opEmptyList       byte = ']'    // []
	opObj             byte = 'o'    // class(*args), class and args from mark
	opPut             byte = 'p'    // memo put; decimal text line
	opBinput          byte = 'q'    // memo put; 1-byte index
	opLongBinput      byte = 'r'    // memo put; 4-byte index
	opSetitem         byte = 's'    // dict[k] = v
	opTuple           byte = 't'    // tuple from mark
	opEmptyTuple      byte = ')'    // ()
	opSetitems        byte = 'u'    // dict.update from mark
	opBinfloat        byte = 'G'    // float; 8-byte big-endian IEEE 754
	opProto           byte = '\x80' // protocol 2: protocol version
	opNewobj          byte = '\x81' // cls.__new__(cls, *args)
	opExt1            byte = '\x82' // extension registry; 1-byte code
	opExt2            byte = '\x83' // extension registry; 2-byte code
	opExt4            byte = '\x84' // extension registry; 4-byte code
	opTuple1          byte = '\x85' // 1-tuple from top
	opTuple2          byte = '\x86' // 2-tuple from top
	opTuple3          byte = '\x87' // 3-tuple from top
	opNewtrue         byte = '\x88' // True
	opNewfalse        byte = '\x89' // False
	opLong1           byte = '\x8a' // int; 1-byte length, little-endian two's complement
	opLong4           byte = '\x8b' // int; 4-byte length
	opBinbytes        byte = 'B'    // protocol 3: bytes; 4-byte length
	opShortBinbytes   byte = 'C'    // bytes; 1-byte length
	opShortBinunicode byte = '\x8c' // protocol 4: str; 1-byte length
	opBinunicode8     byte = '\x8d' // str; 8-byte length
	opBinbytes8       byte = '\x8e' // bytes; 8-byte length
	opEmptySet        byte = '\x8f' // set()
	opAdditems        byte = '\x90' // set.update from mark
	opFrozenset       byte = '\x91' // frozenset from mark
	opNewobjEx        byte = '\x92' // cls.__new__(cls, *args, **kwargs)
	opStackGlobal     byte = '\x93' // global from module and name on the stack
	opMemoize         byte = '\x94' // memo put at len(memo)
	opFrame           byte = '\x95' // 8-byte frame length
	opBytearray8      byte = '\x96' // protocol 5: bytearray; 8-byte length
	opNextBuffer      byte = '\x97' // next out-of-band buffer
	opReadonlyBuffer  byte = '\x98' // make top buffer read-only
)

// argKind is the shape of an opcode's inline argument.
type argKind uint8

const (
	argNone  argKind = iota
	argFixed         // opInfo.n bytes
	argLine          // one text line
	argLine2         // two text lines (GLOBAL, INST)
	argLen1          // 1-byte length, then data
	argLen4          // 4-byte little-endian length (signed for BINSTRING and LONG4), then data
	argLen8          // 8-byte little-endian length, then data
)

type opInfo struct {
	name  string
	proto uint8 // protocol that introduced the opcode
	arg   argKind
	n     uint8 // argFixed: argument size
}

var opTable = func() (t [256]opInfo) {
	set := func(op byte, name string, proto uint8, arg argKind, n uint8) {
		t[op] = opInfo{name, proto, arg, n}
	}
	set(opMark, "MARK", 0, argNone, 0)
	set(opStop, "STOP", 0, argNone, 0)
	set(opPop, "POP", 0, argNone, 0)
	set(opPopMark, "POP_MARK", 1, argNone, 0)
	set(opDup, "DUP", 0, argNone, 0)
	set(opFloat, "FLOAT", 0, argLine, 0)
	set(opInt, "INT", 0, argLine, 0)
	set(opBinint, "BININT", 1, argFixed, 4)
	set(opBinint1, "BININT1", 1, argFixed, 1)
	set(opLong, "LONG", 0, argLine, 0)
	set(opBinint2, "BININT2", 1, argFixed, 2)
	set(opNone, "NONE", 0, argNone, 0)
	set(opPersid, "PERSID", 0, argLine, 0)
	set(opBinpersid, "BINPERSID", 1, argNone, 0)
	set(opReduce, "REDUCE", 0, argNone, 0)
	set(opString, "STRING", 0, argLine, 0)
	set(opBinstring, "BINSTRING", 1, argLen4, 0)
	set(opShortBinstring, "SHORT_BINSTRING", 1, argLen1, 0)
	set(opUnicode, "UNICODE", 0, argLine, 0)
	set(opBinunicode, "BINUNICODE", 1, argLen4, 0)
	set(opAppend, "APPEND", 0, argNone, 0)
	set(opBuild, "BUILD", 0, argNone, 0)
	set(opGlobal, "GLOBAL", 0, argLine2, 0)
	set(opDict, "DICT", 0, argNone, 0)
	set(opEmptyDict, "EMPTY_DICT", 1, argNone, 0)
	set(opAppends, "APPENDS", 1, argNone, 0)
	set(opGet, "GET", 0, argLine, 0)
	set(opBinget, "BINGET", 1, argFixed, 1)
	set(opInst, "INST", 0, argLine2, 0)
	set(opLongBinget, "LONG_BINGET", 1, argFixed, 4)
	set(opList, "LIST", 0, argNone, 0)
	set(opEmptyList, "EMPTY_LIST", 1, argNone, 0)
	set(opObj, "OBJ", 1, argNone, 0)
	set(opPut, "PUT", 0, argLine, 0)
	set(opBinput, "BINPUT", 1, argFixed, 1)
	set(opLongBinput, "LONG_BINPUT", 1, argFixed, 4)
	set(opSetitem, "SETITEM", 0, argNone, 0)
	set(opTuple, "TUPLE", 0, argNone, 0)
	set(opEmptyTuple, "EMPTY_TUPLE", 1, argNone, 0)
	set(opSetitems, "SETITEMS", 1, argNone, 0)
	set(opBinfloat, "BINFLOAT", 1, argFixed, 8)
	set(opProto, "PROTO", 2, argFixed, 1)
	set(opNewobj, "NEWOBJ", 2, argNone, 0)
	set(opExt1, "EXT1", 2, argFixed, 1)
	set(opExt2, "EXT2", 2, argFixed, 2)
	set(opExt4, "EXT4", 2, argFixed, 4)
	set(opTuple1, "TUPLE1", 2, argNone, 0)
	set(opTuple2, "TUPLE2", 2, argNone, 0)
	set(opTuple3, "TUPLE3", 2, argNone, 0)
	set(opNewtrue, "NEWTRUE", 2, argNone, 0)
	set(opNewfalse, "NEWFALSE", 2, argNone, 0)
	set(opLong1, "LONG1", 2, argLen1, 0)
	set(opLong4, "LONG4", 2, argLen4, 0)
	set(opBinbytes, "BINBYTES", 3, argLen4, 0)
	set(opShortBinbytes, "SHORT_BINBYTES", 3, argLen1, 0)
	set(opShortBinunicode, "SHORT_BINUNICODE", 4, argLen1, 0)
	set(opBinunicode8, "BINUNICODE8", 4, argLen8, 0)
	set(opBinbytes8, "BINBYTES8", 4, argLen8, 0)
	set(opEmptySet, "EMPTY_SET", 4, argNone, 0)
	set(opAdditems, "ADDITEMS", 4, argNone, 0)
	set(opFrozenset, "FROZENSET", 4, argNone, 0)
	set(opNewobjEx, "NEWOBJ_EX", 4, argNone, 0)
	set(opStackGlobal, "STACK_GLOBAL", 4, argNone, 0)
	set(opMemoize, "MEMOIZE", 4, argNone, 0)
	set(opFrame, "FRAME", 4, argFixed, 8)
	set(opBytearray8, "BYTEARRAY8", 5, argLen8, 0)
	set(opNextBuffer, "NEXT_BUFFER", 5, argNone, 0)
	set(opReadonlyBuffer, "READONLY_BUFFER", 5, argNone, 0)
	return t
}()

// argWidths is the size of each opcode's fixed-size argument or length
// prefix (0 for none or a text line).
var argWidths = func() (w [256]uint8) {
	for op, t := range opTable {
		switch t.arg {
		case argFixed:
			w[op] = t.n
		case argLen1:
			w[op] = 1
		case argLen4:
			w[op] = 4
		case argLen8:
			w[op] = 8
		}
	}
	return w
}()

// leUint decodes b, an opcode's little-endian argument of 1, 2, 4 or 8
// bytes, as unsigned.
func leUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

func opcodeName(op byte) string {
	if n := opTable[op].name; n != "" {
		return n
	}
	return "unknown opcode"
}

func isOpcode(op byte) bool { return opTable[op].name != "" }
