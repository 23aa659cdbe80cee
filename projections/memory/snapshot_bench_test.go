package memory_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"testing"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// BenchmarkSnapshotLoad: one op decodes and restores the snapshot of a
// model of a realistic history of 400,000 events (about 40,000 jobs).
func BenchmarkSnapshotLoad(b *testing.B) {
	codec := commands.NewCodec()
	m := memory.New(memory.Config{})
	envs := readmodeltest.Realistic(400_000, 50, 1)
	for lo := 0; lo < len(envs); lo += 512 {
		batch := envs[lo:min(lo+512, len(envs))]
		if err := m.Apply(context.Background(), batch, batch[len(batch)-1].Position); err != nil {
			b.Fatal(err)
		}
	}
	st, err := m.Snapshot(codec)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(st.Jobs)), "jobs")
	b.ReportMetric(float64(buf.Len()), "bytes")
	for b.Loop() {
		var got memory.State
		if err := gob.NewDecoder(bytes.NewReader(buf.Bytes())).Decode(&got); err != nil {
			b.Fatal(err)
		}
		if err := memory.New(memory.Config{}).Restore(&got, codec); err != nil {
			b.Fatal(err)
		}
	}
}
