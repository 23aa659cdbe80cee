package readmodeltest

import (
	"bytes"
	"encoding/gob"
	"slices"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
)

// RoundTrip encodes st as the server's snapshot file does (gob), and
// decodes it.
func RoundTrip(t testing.TB, st *memory.State) *memory.State {
	t.Helper()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		t.Fatal(err)
	}
	var out memory.State
	if err := gob.NewDecoder(&buf).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// State is m's state in a form two models compare by (reflect.DeepEqual):
// encoded and decoded (nil and empty alike), unordered parts sorted.
func State(t testing.TB, m *memory.Model, codec memory.EventCodec) *memory.State {
	t.Helper()
	st, err := m.Snapshot(codec)
	if err != nil {
		t.Fatal(err)
	}
	st = RoundTrip(t, st)
	slices.SortFunc(st.Payments, func(a, b projections.PaymentView) int { return strings.Compare(a.JobID, b.JobID) })
	for _, jobs := range st.Wallets {
		slices.Sort(jobs)
	}
	return st
}
