package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// ErrUnknownEventType is matched (errors.Is) by an *UnknownEventTypeError.
var ErrUnknownEventType = errors.New("unknown event type")

// UnknownEventTypeError reports an event type name, or a Go type, that the
// Registry does not know.
type UnknownEventTypeError struct {
	Name   string // the type name that could not be resolved (Decode)
	From   string // the name the event was recorded under, if upcast to Name
	GoType string // the Go type that is not registered (Encode)
}

func (e *UnknownEventTypeError) Error() string {
	switch {
	case e.GoType != "":
		return fmt.Sprintf("unknown event type: Go type %s is not registered", e.GoType)
	case e.From != "" && e.From != e.Name:
		return fmt.Sprintf("unknown event type %q (upcast from %q)", e.Name, e.From)
	default:
		return fmt.Sprintf("unknown event type %q", e.Name)
	}
}

// Is makes errors.Is(err, ErrUnknownEventType) true.
func (e *UnknownEventTypeError) Is(target error) bool { return target == ErrUnknownEventType }

// Upcaster rewrites the JSON payload of an old event type into the payload
// of its successor.
type Upcaster func(data []byte) ([]byte, error)

// Registry maps event type names to Go struct types and encodes and
// decodes their JSON payloads. Old type names are upcast on read, so a
// payload recorded as "JobSubmitted" decodes as the current
// "JobSubmitted.v2". Register types and upcasters at start-up; a Registry
// is safe for concurrent use.
type Registry struct {
	mu        sync.RWMutex
	decoders  map[string]func([]byte) (any, error)
	names     map[reflect.Type]string
	upcasters map[string]upcastTo
}

type upcastTo struct {
	name string
	fn   Upcaster
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		decoders:  make(map[string]func([]byte) (any, error)),
		names:     make(map[reflect.Type]string),
		upcasters: make(map[string]upcastTo),
	}
}

// Register registers the struct type T under name. Decode returns values
// of type T (not *T). It panics if name is empty or taken, or if T is not
// a struct type or is already registered: registration is a programming
// step, done once at start-up.
func Register[T any](r *Registry, name string) {
	typ := reflect.TypeFor[T]()
	if typ.Kind() != reflect.Struct {
		panic(fmt.Sprintf("eventstore: Register %q: %s is not a struct type", name, typ))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checkFree(name)
	if old, ok := r.names[typ]; ok {
		panic(fmt.Sprintf("eventstore: Register %q: %s is already registered as %q", name, typ, old))
	}
	r.names[typ] = name
	r.decoders[name] = func(data []byte) (any, error) {
		var v T
		if len(data) == 0 {
			return v, nil
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
}

// RegisterUpcaster makes Decode turn a payload recorded as oldName into
// one of newName with fn. newName may itself be upcast further. It panics
// if a name is empty, oldName is taken, fn is nil or the chain would loop.
func (r *Registry) RegisterUpcaster(oldName, newName string, fn Upcaster) {
	if newName == "" || fn == nil {
		panic(fmt.Sprintf("eventstore: RegisterUpcaster %q: empty new name or nil upcaster", oldName))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checkFree(oldName)
	for n := newName; ; {
		if n == oldName {
			panic(fmt.Sprintf("eventstore: RegisterUpcaster %q → %q: upcasters would loop", oldName, newName))
		}
		up, ok := r.upcasters[n]
		if !ok {
			break
		}
		n = up.name
	}
	r.upcasters[oldName] = upcastTo{name: newName, fn: fn}
}

// checkFree panics unless name is a new, non-empty name. r.mu is held.
func (r *Registry) checkFree(name string) {
	if name == "" {
		panic("eventstore: empty event type name")
	}
	if _, ok := r.decoders[name]; ok {
		panic(fmt.Sprintf("eventstore: event type %q is already registered", name))
	}
	if _, ok := r.upcasters[name]; ok {
		panic(fmt.Sprintf("eventstore: event type %q already has an upcaster", name))
	}
}

// Encode returns the registered name of v's type and v as JSON. v is a
// registered struct or a non-nil pointer to one.
func (r *Registry) Encode(v any) (typeName string, data []byte, err error) {
	typ := reflect.TypeOf(v)
	if typ != nil && typ.Kind() == reflect.Pointer {
		if reflect.ValueOf(v).IsNil() {
			return "", nil, fmt.Errorf("eventstore: encode nil %s", typ)
		}
		typ = typ.Elem()
	}
	r.mu.RLock()
	name, ok := r.names[typ]
	r.mu.RUnlock()
	if !ok {
		return "", nil, &UnknownEventTypeError{GoType: fmt.Sprint(typ)}
	}
	data, err = json.Marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("eventstore: encode %s: %w", name, err)
	}
	return name, data, nil
}

// Decode returns the payload data of an event recorded as typeName as a
// value of the registered type, upcasting old type names first. An empty
// payload decodes to the zero value. An unknown name is an
// *UnknownEventTypeError.
func (r *Registry) Decode(typeName string, data []byte) (any, error) {
	r.mu.RLock()
	name := typeName
	decode, ok := r.decoders[name]
	var chain []upcastTo
	for !ok {
		up, found := r.upcasters[name]
		if !found {
			break
		}
		chain = append(chain, up)
		name = up.name
		decode, ok = r.decoders[name]
	}
	r.mu.RUnlock()
	if !ok {
		return nil, &UnknownEventTypeError{Name: name, From: typeName}
	}
	from := typeName
	for _, up := range chain {
		var err error
		if data, err = up.fn(data); err != nil {
			return nil, fmt.Errorf("eventstore: upcast %q to %q: %w", from, up.name, err)
		}
		from = up.name
	}
	v, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("eventstore: decode %q: %w", name, err)
	}
	return v, nil
}

// DecodeEvent decodes the payload of a recorded event.
func (r *Registry) DecodeEvent(e RecordedEvent) (any, error) { return r.Decode(e.Type, e.Data) }

// NewEvent encodes v as an event to append with the given ID and metadata.
func (r *Registry) NewEvent(id string, v any, md Metadata) (EventData, error) {
	name, data, err := r.Encode(v)
	if err != nil {
		return EventData{}, err
	}
	return EventData{ID: id, Type: name, Data: data, Metadata: md}, nil
}
