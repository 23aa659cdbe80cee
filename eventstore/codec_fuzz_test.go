package eventstore_test

import (
	"reflect"
	"testing"
)

// FuzzDecode: no input makes Decode panic, and whatever it decodes
// re-encodes under its current name and decodes to the same value.
func FuzzDecode(f *testing.F) {
	r := newRegistry()
	f.Add("JobSubmitted", []byte(`{"job_id":"j1","amount":7}`))
	f.Add("JobSubmitted.v2", []byte(`{"job_id":"j1","lamports":7,"priority":"HIGH"}`))
	f.Add("JobCancelled", []byte(`{"job_id":"j","reason":"\u00e9"}`))
	f.Add("JobCancelled", []byte(``))
	f.Add("JobCancelled", []byte(`null`))
	f.Add("Nope", []byte(`{}`))
	f.Add("", []byte(`{"job_id":`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		v, err := r.Decode(name, data)
		if err != nil {
			return
		}
		name2, data2, err := r.Encode(v)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", v, err)
		}
		v2, err := r.Decode(name2, data2)
		if err != nil {
			t.Fatalf("re-encoded %s %q does not decode: %v", name2, data2, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip changed %#v into %#v", v, v2)
		}
	})
}
