package eventstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/cyxwiz/central-server/eventstore"
)

// JobSubmittedV1 is the payload once recorded as "JobSubmitted".
type JobSubmittedV1 struct {
	JobID  string `json:"job_id"`
	Amount int64  `json:"amount"` // lamports
}

// JobSubmitted is the current payload, "JobSubmitted.v2".
type JobSubmitted struct {
	JobID    string `json:"job_id"`
	Lamports int64  `json:"lamports"`
	Priority string `json:"priority"`
}

type JobCancelled struct {
	JobID  string `json:"job_id"`
	Reason string `json:"reason,omitempty"`
}

// upcastJobSubmitted renames amount to lamports and defaults the priority.
func upcastJobSubmitted(data []byte) ([]byte, error) {
	var v1 JobSubmittedV1
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	return json.Marshal(JobSubmitted{JobID: v1.JobID, Lamports: v1.Amount, Priority: "NORMAL"})
}

func newRegistry() *eventstore.Registry {
	r := eventstore.NewRegistry()
	eventstore.Register[JobSubmitted](r, "JobSubmitted.v2")
	eventstore.Register[JobCancelled](r, "JobCancelled")
	r.RegisterUpcaster("JobSubmitted", "JobSubmitted.v2", upcastJobSubmitted)
	return r
}

func TestCodecRoundTrip(t *testing.T) {
	r := newRegistry()
	for _, v := range []any{
		JobSubmitted{JobID: "j1", Lamports: 5, Priority: "HIGH"},
		&JobCancelled{JobID: "j2", Reason: "user"},
	} {
		name, data, err := r.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Decode(name, data)
		if err != nil {
			t.Fatal(err)
		}
		want := reflect.Indirect(reflect.ValueOf(v)).Interface()
		if got != want {
			t.Fatalf("%s: decoded %#v, want %#v", name, got, want)
		}
	}
	if name, _, _ := r.Encode(JobSubmitted{}); name != "JobSubmitted.v2" {
		t.Fatalf("Encode name %q, want the current name", name)
	}
}

func TestCodecUpcast(t *testing.T) {
	r := newRegistry()
	v, err := r.Decode("JobSubmitted", []byte(`{"job_id":"j1","amount":7}`))
	if err != nil {
		t.Fatal(err)
	}
	switch e := v.(type) {
	case JobSubmitted:
		if e != (JobSubmitted{JobID: "j1", Lamports: 7, Priority: "NORMAL"}) {
			t.Fatalf("upcast to %+v", e)
		}
	default:
		t.Fatalf("decoded a %T, want JobSubmitted", v)
	}
}

func TestCodecUpcastChain(t *testing.T) {
	type V3 struct {
		N int `json:"n"`
	}
	r := eventstore.NewRegistry()
	eventstore.Register[V3](r, "E.v3")
	// Registered in any order; each step sees the previous step's output.
	r.RegisterUpcaster("E.v2", "E.v3", func(b []byte) ([]byte, error) { return []byte(strings.Replace(string(b), "m", "n", 1)), nil })
	r.RegisterUpcaster("E", "E.v2", func(b []byte) ([]byte, error) { return []byte(strings.Replace(string(b), "k", "m", 1)), nil })
	v, err := r.Decode("E", []byte(`{"k":3}`))
	if err != nil || v != (V3{N: 3}) {
		t.Fatalf("Decode = %#v, %v", v, err)
	}
	if _, err := r.Decode("E.v2", []byte(`{"m":4}`)); err != nil {
		t.Fatal(err)
	}
}

func TestCodecErrors(t *testing.T) {
	r := newRegistry()
	var unknown *eventstore.UnknownEventTypeError

	_, err := r.Decode("NoSuchEvent", []byte(`{}`))
	if !errors.Is(err, eventstore.ErrUnknownEventType) || !errors.As(err, &unknown) || unknown.Name != "NoSuchEvent" {
		t.Fatalf("unknown name: %v", err)
	}
	r.RegisterUpcaster("Orphan", "Orphan.v2", func(b []byte) ([]byte, error) { return b, nil })
	_, err = r.Decode("Orphan", nil)
	if !errors.As(err, &unknown) || unknown.Name != "Orphan.v2" || unknown.From != "Orphan" {
		t.Fatalf("upcast to an unknown name: %v", err)
	}
	_, _, err = r.Encode(struct{ X int }{})
	if !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("unregistered Go type: %v", err)
	}
	if _, _, err = r.Encode(nil); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("nil: %v", err)
	}
	if _, _, err = r.Encode((*JobCancelled)(nil)); err == nil {
		t.Fatal("nil pointer encoded")
	}
	if _, err = r.Decode("JobCancelled", []byte(`{"job_id":`)); err == nil {
		t.Fatal("truncated JSON decoded")
	}
	if _, err = r.Decode("JobCancelled", []byte(`{"job_id":1}`)); err == nil {
		t.Fatal("wrong JSON type decoded")
	}
	if _, err = r.Decode("JobSubmitted", []byte(`[]`)); err == nil || !strings.Contains(err.Error(), "upcast") {
		t.Fatalf("failing upcaster: %v", err)
	}
	if v, err := r.Decode("JobCancelled", nil); err != nil || v != (JobCancelled{}) {
		t.Fatalf("empty payload: %#v, %v", v, err)
	}
}

func TestCodecRegistrationPanics(t *testing.T) {
	type Other struct{}
	nop := func(b []byte) ([]byte, error) { return b, nil }
	cases := map[string]func(r *eventstore.Registry){
		"name taken":           func(r *eventstore.Registry) { eventstore.Register[Other](r, "JobCancelled") },
		"type taken":           func(r *eventstore.Registry) { eventstore.Register[JobCancelled](r, "Cancelled2") },
		"empty name":           func(r *eventstore.Registry) { eventstore.Register[Other](r, "") },
		"not a struct":         func(r *eventstore.Registry) { eventstore.Register[int](r, "Int") },
		"pointer type":         func(r *eventstore.Registry) { eventstore.Register[*Other](r, "Ptr") },
		"name has upcaster":    func(r *eventstore.Registry) { eventstore.Register[Other](r, "JobSubmitted") },
		"upcast a type":        func(r *eventstore.Registry) { r.RegisterUpcaster("JobCancelled", "X", nop) },
		"upcaster twice":       func(r *eventstore.Registry) { r.RegisterUpcaster("JobSubmitted", "X", nop) },
		"upcaster loop":        func(r *eventstore.Registry) { r.RegisterUpcaster("A", "B", nop); r.RegisterUpcaster("B", "A", nop) },
		"upcaster to itself":   func(r *eventstore.Registry) { r.RegisterUpcaster("A", "A", nop) },
		"nil upcaster":         func(r *eventstore.Registry) { r.RegisterUpcaster("A", "B", nil) },
		"upcaster to nowhere":  func(r *eventstore.Registry) { r.RegisterUpcaster("A", "", nop) },
		"upcaster from no one": func(r *eventstore.Registry) { r.RegisterUpcaster("", "B", nop) },
	}
	for name, register := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			register(newRegistry())
		}()
	}
}

func TestCodecEvents(t *testing.T) {
	r := newRegistry()
	md := eventstore.Metadata{Actor: "tester"}
	e, err := r.NewEvent("0b6c3a52-6b1e-4a5e-9d0a-2f1f6c1f8a10", JobCancelled{JobID: "j"}, md)
	if err != nil || e.Type != "JobCancelled" || e.Metadata != md || string(e.Data) != `{"job_id":"j"}` {
		t.Fatalf("NewEvent = %+v, %v", e, err)
	}
	v, err := r.DecodeEvent(eventstore.RecordedEvent{Type: e.Type, Data: e.Data})
	if err != nil || v != (JobCancelled{JobID: "j"}) {
		t.Fatalf("DecodeEvent = %#v, %v", v, err)
	}
}

func TestCodecConcurrent(t *testing.T) {
	r := newRegistry()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			type local struct{ N int }
			if i == 0 {
				eventstore.Register[local](r, "Local")
			}
			for j := range 200 {
				name, data, err := r.Encode(JobCancelled{JobID: fmt.Sprint(j)})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := r.Decode(name, data); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
