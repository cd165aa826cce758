package pickle

// Registry maps Python classes to Go types, in both directions. It is safe
// for concurrent use.
type Registry struct{}

// DefaultRegistry is the Registry that options without one use.
var DefaultRegistry = &Registry{}
