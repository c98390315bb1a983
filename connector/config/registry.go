package config

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// The registry holds the parts of the configuration that components own:
// top-level sections (an API's settings), sink types and source types. This
// package knows none of them by name; package service registers them, one
// file per component, in init functions (import it before calling Parse).
// Registration is for init time: it panics on a clash, as a second
// registration of one name is a programming error.

// Section is a top-level block of the configuration owned by a component,
// such as an API's settings (contacthub:, ups:, enablenow:), decoded into S
// (its yaml tags name the keys; an unknown key is an error naming it). A
// block the file does not have is absent from Config.Sections and takes no
// defaults.
type Section[S any] struct {
	// Key is the block's top-level key.
	Key string
	// Defaults fills every unset value of the block; it is the one place
	// they live.
	Defaults func(s *S)
	// Validate reports every problem of the block, defaults applied,
	// through p, which is scoped to the block ("base_url" reads
	// "ups.base_url").
	Validate func(p Problems, s *S)
}

// SinkType is a kind of sink: the value of a sink's type key, the block of
// its own settings inside a sink, decoded into S, and how a sink of the type
// takes defaults and is checked. The common keys of a sink (Sink) are this
// package's.
type SinkType[S any] struct {
	// Name is the value of a sink's type key, e.g. "ups".
	Name string
	// Section is the key of the type's own block inside a sink ("ups" for
	// sinks[i].ups); empty when the type takes none. Another type's block
	// in a sink is an error, as is an unknown key inside it.
	Section string
	// Needs are the top-level sections a sink of this type cannot run
	// without, e.g. "ups"; Validate reports a missing one.
	Needs []string
	// Defaults fills the unset values of a sink of this type: its settings
	// (never nil) and the common values whose default depends on the type
	// (concurrency, max_in_flight, batch.max_records). The common defaults
	// are applied after it, so it may choose any of those too.
	Defaults func(s *Sink, settings *S)
	// Validate reports every problem of a sink of this type, defaults
	// applied, through p, which is scoped to the sink ("ups.collection"
	// reads "sinks[1].ups.collection"). c is the whole configuration,
	// defaults applied, for the sections the type reads. The common checks
	// of a sink are made before it.
	Validate func(p Problems, c *Config, s *Sink, settings *S)
	// Check, when set, gives the verdict of a sink of this type on one
	// record value (the body its API takes): nil, or the violations with
	// their JSON paths. A mapping's outputs are checked with it before any
	// is sent, and `connector map` shows it.
	Check func(s *Sink, settings *S) func(value []byte) error
}

// SourceType is a kind of source. A source has no common block: its keys
// besides name and type are the type's own, decoded into S.
type SourceType[S any] struct {
	// Name is the value of a source's type key, e.g. "contacthub-updates".
	Name string
	// Needs are the top-level sections a source of this type cannot run
	// without.
	Needs []string
	// Defaults fills every unset value of a source of this type.
	Defaults func(src *Source, settings *S)
	// Validate reports every problem of a source of this type, defaults
	// applied, through p, scoped to the source.
	Validate func(p Problems, c *Config, src *Source, settings *S)
}

// kind is what the registry keeps of a registered S, its type erased.
type kind struct {
	name  string
	typ   reflect.Type // S, for the key check
	needs []string
	// decode decodes a node into a new *S.
	decode func(n *yaml.Node) (any, error)
	// zero is a new *S.
	zero func() any
	// clone copies a *S, so that defaults applied to the copy leave the
	// original as it was; anything else is returned as is.
	clone func(v any) any
	// is reports whether v is a non-nil *S.
	is func(v any) bool
}

func kindOf[S any](name string, needs []string) kind {
	return kind{
		name:  name,
		typ:   reflect.TypeFor[S](),
		needs: slices.Clone(needs),
		decode: func(n *yaml.Node) (any, error) {
			s := new(S)
			return s, n.Decode(s)
		},
		zero: func() any { return new(S) },
		clone: func(v any) any {
			if s, ok := v.(*S); ok && s != nil {
				c := *s
				return &c
			}
			return v
		},
		is: func(v any) bool { s, ok := v.(*S); return ok && s != nil },
	}
}

// typeName is how an error names a settings struct.
func (k *kind) typeName() string { return "*" + k.typ.String() }

type sectionKind struct {
	kind
	defaults func(v any)
	validate func(p Problems, v any)
}

type sinkKind struct {
	kind
	section  string
	defaults func(s *Sink)
	validate func(p Problems, c *Config, s *Sink)
	check    func(s *Sink) func(value []byte) error
}

type sourceKind struct {
	kind
	defaults func(src *Source)
	validate func(p Problems, c *Config, src *Source)
}

var registry = struct {
	mu       sync.RWMutex
	sections map[string]*sectionKind
	sinks    map[string]*sinkKind
	// blocks maps the key of a sink type's block to the types taking it.
	blocks  map[string][]string
	sources map[string]*sourceKind
}{
	sections: map[string]*sectionKind{},
	sinks:    map[string]*sinkKind{},
	blocks:   map[string][]string{},
	sources:  map[string]*sourceKind{},
}

// yamlKeys are the keys of a struct type's fields.
func yamlKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

var (
	configKeys = yamlKeys(reflect.TypeFor[Config]())
	sinkKeys   = yamlKeys(reflect.TypeFor[Sink]())
	sourceKeys = yamlKeys(reflect.TypeFor[Source]())
)

// RegisterSection registers a top-level section. It panics if the key is
// taken.
func RegisterSection[S any](s Section[S]) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if s.Key == "" || configKeys[s.Key] || registry.sections[s.Key] != nil {
		panic(fmt.Sprintf("config: section %q registered twice or clashing with a key of the config", s.Key))
	}
	registry.sections[s.Key] = &sectionKind{
		kind: kindOf[S](s.Key, nil),
		defaults: func(v any) {
			if p, ok := v.(*S); ok && p != nil && s.Defaults != nil {
				s.Defaults(p)
			}
		},
		validate: func(p Problems, v any) {
			if v, ok := v.(*S); ok && v != nil && s.Validate != nil {
				s.Validate(p, v)
			}
		},
	}
}

// RegisterSink registers a sink type. It panics if the name is taken or
// the type's block clashes with a common key of a sink.
func RegisterSink[S any](t SinkType[S]) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if t.Name == "" || registry.sinks[t.Name] != nil {
		panic(fmt.Sprintf("config: sink type %q registered twice", t.Name))
	}
	if sinkKeys[t.Section] {
		panic(fmt.Sprintf("config: sink type %q: its block %q is a common key of a sink", t.Name, t.Section))
	}
	k := &sinkKind{kind: kindOf[S](t.Name, t.Needs), section: t.Section}
	k.defaults, k.validate = settingsHooks(k.zero, func(s *Sink) *any { return &s.Settings }, t.Defaults, t.Validate)
	k.check = func(s *Sink) func([]byte) error {
		if set, ok := s.Settings.(*S); ok && set != nil && t.Check != nil {
			return t.Check(s, set)
		}
		return nil
	}
	registry.sinks[t.Name] = k
	if t.Section != "" {
		registry.blocks[t.Section] = append(registry.blocks[t.Section], t.Name)
		sort.Strings(registry.blocks[t.Section])
	}
}

// RegisterSource registers a source type. It panics if the name is taken.
func RegisterSource[S any](t SourceType[S]) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if t.Name == "" || registry.sources[t.Name] != nil {
		panic(fmt.Sprintf("config: source type %q registered twice", t.Name))
	}
	for key := range yamlKeys(reflect.TypeFor[S]()) {
		if sourceKeys[key] {
			panic(fmt.Sprintf("config: source type %q: its key %q is a common key of a source", t.Name, key))
		}
	}
	k := &sourceKind{kind: kindOf[S](t.Name, t.Needs)}
	k.defaults, k.validate = settingsHooks(k.zero, func(src *Source) *any { return &src.Settings }, t.Defaults, t.Validate)
	registry.sources[t.Name] = k
}

// settingsHooks are the defaults and validate of a kind of component C (a
// Sink or a Source) whose settings, at settings(c), are an S: a component
// without settings gets zero's, and the type's defaults and validate, when
// set, see them as the S they are.
func settingsHooks[C, S any](zero func() any, settings func(*C) *any, defaults func(*C, *S), validate func(Problems, *Config, *C, *S)) (func(*C), func(Problems, *Config, *C)) {
	typed := func(c *C) *S {
		set, _ := (*settings(c)).(*S)
		return set
	}
	return func(c *C) {
			if p := settings(c); *p == nil {
				*p = zero()
			}
			if set := typed(c); set != nil && defaults != nil {
				defaults(c, set)
			}
		}, func(p Problems, cfg *Config, c *C) {
			if set := typed(c); set != nil && validate != nil {
				validate(p, cfg, c, set)
			}
		}
}

// SectionOf is the top-level section key of c, as the component that
// registered it decoded it, or nil when the file has no such section (or it
// is not an S).
func SectionOf[S any](c *Config, key string) *S {
	if c == nil {
		return nil
	}
	s, _ := c.Sections[key].(*S)
	return s
}

// CheckOf is the check of s's type on one record value (SinkType.Check),
// or nil when the type has none. s must have its defaults applied.
func CheckOf(s *Sink) func(value []byte) error {
	k := lookupSink(s.Type)
	if k == nil {
		return nil
	}
	return k.check(s)
}

// SinkTypes are the registered sink types, sorted.
func SinkTypes() []string {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return sortedKeys(registry.sinks)
}

// SourceTypes are the registered source types, sorted.
func SourceTypes() []string {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return sortedKeys(registry.sources)
}

// Sections are the keys of the registered top-level sections, sorted.
func Sections() []string {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return sortedKeys(registry.sections)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func lookupSection(key string) *sectionKind {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return registry.sections[key]
}

func lookupSink(name string) *sinkKind {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return registry.sinks[name]
}

func lookupSource(name string) *sourceKind {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return registry.sources[name]
}

// blockTypes are the sink types whose block is key; none when key is no
// sink type's block.
func blockTypes(key string) []string {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return registry.blocks[key]
}

// oneOf phrases the valid values of a key for an error: "a", "one of a, b".
func oneOf(names []string) string {
	switch len(names) {
	case 0:
		return "a registered type (none is: import package service)"
	case 1:
		return names[0]
	}
	return "one of " + strings.Join(names, ", ")
}
