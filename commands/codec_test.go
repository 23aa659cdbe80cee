package commands_test

import (
	"reflect"
	"testing"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
)

func TestCodecKnowsEveryDomainEvent(t *testing.T) {
	codec := commands.NewCodec()
	for _, e := range append(domain.AllEvents(), domain.PaymentEvents()...) {
		name, data, err := codec.Encode(e)
		if err != nil {
			t.Fatalf("encode %T: %v", e, err)
		}
		if name != e.EventName() {
			t.Errorf("%T encodes as %q, want %q", e, name, e.EventName())
		}
		back, err := codec.Decode(name, data)
		if err != nil {
			t.Fatalf("decode %s: %v", name, err)
		}
		if reflect.TypeOf(back) != reflect.TypeOf(e) {
			t.Errorf("%s decodes to %T, want %T", name, back, e)
		}
	}
}

// FuzzCodecDecode feeds arbitrary payloads to every event type: decoding
// may fail, never panic.
func FuzzCodecDecode(f *testing.F) {
	codec := commands.NewCodec()
	names := []string{}
	for _, e := range domain.AllEvents() {
		names = append(names, e.EventName())
	}
	f.Add(uint8(0), []byte(`{"job_id":"x","spec":{"type":1,"hyperparameters":{"a":"b"}}}`))
	f.Add(uint8(12), []byte(`{"node_id":"n","spec":{"devices":[{"type":2}]}}`))
	f.Add(uint8(5), []byte(`{"progress":1e309}`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		name := names[int(which)%len(names)]
		v, err := codec.Decode(name, data)
		if err != nil {
			return
		}
		if _, ok := v.(domain.Event); !ok {
			t.Fatalf("%s decoded to %T, not a domain event", name, v)
		}
		// A decoded event folds without panicking.
		(&domain.Job{}).Apply(v.(domain.Event))
		(&domain.Node{}).Apply(v.(domain.Event))
	})
}
