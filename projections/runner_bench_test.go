package projections_test

import (
	"context"
	"testing"

	"github.com/cyxwiz/central-server/eventstore"
	esmemory "github.com/cyxwiz/central-server/eventstore/memory"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// BenchmarkRunnerReplay is a start-up replay end to end: subscribe to the
// in-memory store, decode the JSON payloads, apply to the memory model,
// until caught up.
func BenchmarkRunnerReplay(b *testing.B) {
	const n = 200_000
	codec := newCodec()
	store := esmemory.New()
	defer store.Close()
	ctx := context.Background()
	for _, e := range readmodeltest.Realistic(n, 1000, 1) {
		name, data, err := codec.Encode(e.Event)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Append(ctx, e.Stream, eventstore.Any(), eventstore.EventData{ID: newID(), Type: name, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	head, _ := store.ReadAll(ctx, 0, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := projections.NewRunner(store, codec, memory.New(memory.Config{}), nil)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(runCtx) }()
		<-r.CaughtUp()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(head))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
