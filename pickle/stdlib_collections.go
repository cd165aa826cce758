package pickle

import (
	"errors"
	"iter"
	"reflect"
	"runtime"
	"strings"
)

// collections.OrderedDict ↔ OrderedDict, collections.deque ↔ Deque, and
// pathlib's paths ↔ Path.

var (
	gOrderedDict = Global{"collections", "OrderedDict"}
	gDeque       = Global{"collections", "deque"}
)

// OrderedDict is a Python collections.OrderedDict: a map that keeps its
// keys in the order they were first set. It decodes from an OrderedDict or
// a plain dict (whose order Python 3.7 and later keep too) and encodes as
// collections.OrderedDict. The zero value is empty and ready to use; an
// OrderedDict is not safe for concurrent modification.
type OrderedDict[K comparable, V any] struct {
	keys []K
	m    map[K]V
}

// Set sets the value of k, keeping k's position if it is present.
func (d *OrderedDict[K, V]) Set(k K, v V) {
	if d.m == nil {
		d.m = map[K]V{}
	}
	if _, ok := d.m[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.m[k] = v
}

// Get returns the value of k and whether k is present.
func (d *OrderedDict[K, V]) Get(k K) (V, bool) {
	v, ok := d.m[k]
	return v, ok
}

// Delete removes k, reporting whether it was present. It takes time
// proportional to the number of keys.
func (d *OrderedDict[K, V]) Delete(k K) bool {
	if _, ok := d.m[k]; !ok {
		return false
	}
	delete(d.m, k)
	for i, x := range d.keys {
		if x == k {
			d.keys = append(d.keys[:i], d.keys[i+1:]...)
			break
		}
	}
	return true
}

// Len returns the number of keys.
func (d *OrderedDict[K, V]) Len() int { return len(d.keys) }

// Keys returns the keys in order.
func (d *OrderedDict[K, V]) Keys() []K { return append([]K(nil), d.keys...) }

// All iterates over the keys and values in order.
func (d *OrderedDict[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, k := range d.keys {
			if !yield(k, d.m[k]) {
				return
			}
		}
	}
}

func (d *OrderedDict[K, V]) pyDecode(c *conv, v any) error {
	t := reflect.TypeFor[OrderedDict[K, V]]()
	if v == nil {
		return nil
	}
	items, ok := pairsOf(v)
	if !ok {
		return mismatch(v, t)
	}
	kp, vp := decPlanFor(reflect.TypeFor[K]()), decPlanFor(reflect.TypeFor[V]())
	*d = OrderedDict[K, V]{}
	for i := range items.entries {
		var k K
		var val V
		key := items.entries[i].key
		if err := c.decode(key, kp, reflectPtr(&k)); err != nil {
			return inside(err, keySeg(key)+"(key)")
		}
		if err := c.decode(items.entries[i].value, vp, reflectPtr(&val)); err != nil {
			return inside(err, keySeg(key))
		}
		d.Set(k, val)
	}
	return nil
}

func (d *OrderedDict[K, V]) pyEncode(e *encoder) (any, error) {
	// OrderedDict([(k, v), ...]), which every Python reads.
	pairs := make([]any, len(d.keys))
	for i, k := range d.keys {
		pairs[i] = Tuple{k, d.m[k]}
	}
	return call(gOrderedDict, pairs), nil
}

// Deque is a Python collections.deque. MaxLen 0 stands for Python's
// maxlen=None, no bound (a deque with maxlen=0, which can hold nothing,
// decodes as unbounded and empty). It decodes from a deque or any
// sequence and encodes as collections.deque(items, maxlen).
type Deque[T any] struct {
	Items  []T
	MaxLen int
}

func (d *Deque[T]) pyDecode(c *conv, v any) error {
	t := reflect.TypeFor[Deque[T]]()
	if v == nil {
		return nil
	}
	items, ok := itemsOf(v)
	if !ok {
		return mismatch(v, t)
	}
	maxLen := 0
	if w, _, ok := objectOf(v, gDeque); ok && len(w.args) >= 2 {
		if n, ok := w.args[1].(int64); ok && n > 0 {
			maxLen = int(n)
		}
	}
	var out []T
	if err := c.decode(items, decPlanFor(reflect.TypeFor[[]T]()), reflectPtr(&out)); err != nil {
		return inside(err, ".Items")
	}
	*d = Deque[T]{Items: out, MaxLen: maxLen}
	return nil
}

func (d *Deque[T]) pyEncode(e *encoder) (any, error) {
	if d.MaxLen < 0 {
		return nil, errors.New("negative MaxLen")
	}
	var maxLen any
	if d.MaxLen > 0 {
		maxLen = int64(d.MaxLen)
	}
	items := d.Items
	if items == nil {
		items = []T{}
	}
	return call(gDeque, items, maxLen), nil
}

// Path is a path of Python's pathlib. It decodes from any pathlib path
// (PurePath, PosixPath, WindowsPath and the others) and from a str, and
// encodes as pathlib.PosixPath, or pathlib.WindowsPath when the program
// runs on Windows, as pathlib.Path(str) would make it there.
type Path string

var pathClasses = map[string]bool{
	"PurePath": true, "PurePosixPath": true, "PureWindowsPath": true,
	"Path": true, "PosixPath": true, "WindowsPath": true,
}

func init() {
	addBuiltin(decodePath, encodePath)
}

var pathType = reflect.TypeFor[Path]()

func decodePath(c *conv, v any, p *Path) error {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		*p = Path(x)
		return nil
	case *Object:
		w := viewObject(x)
		g, ok := w.classOf()
		if !ok || (g.Module != "pathlib" && !strings.HasPrefix(g.Module, "pathlib.")) || !pathClasses[g.Name] {
			break
		}
		sep := "/"
		if strings.Contains(g.Name, "Windows") {
			sep = `\`
		}
		parts := make([]string, len(w.args))
		for i, a := range w.args {
			s, ok := a.(string)
			if !ok {
				return failure(v, pathType, errors.New("path part is not a str"))
			}
			parts[i] = s
		}
		*p = Path(joinPath(parts, sep))
		return nil
	}
	return mismatch(v, pathType)
}

// joinPath joins the parts of a path as pathlib does: a part that is
// anchored (absolute, or a Windows drive) starts the path again.
func joinPath(parts []string, sep string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		anchored := strings.HasPrefix(p, sep) || (sep == `\` && len(p) >= 2 && p[1] == ':')
		if anchored {
			b.Reset()
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), sep) {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

func encodePath(e *encoder, p *Path) (any, error) {
	cls := Global{"pathlib", "PosixPath"}
	if runtime.GOOS == "windows" {
		cls = Global{"pathlib", "WindowsPath"}
	}
	return call(cls, string(*p)), nil
}
