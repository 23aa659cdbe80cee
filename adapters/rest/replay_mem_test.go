package rest_test

import (
	"bufio"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
)

// TestEventStreamReplayMemory: a stream that replays a log of large
// events from the start, to a client that stops reading, holds about one
// replay page of them, not the log. The figure is logged (docs/limits.md).
func TestEventStreamReplayMemory(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("fills a log with 75 MB of events: a measure, too slow under -race, where it tells nothing more")
	}
	x := newEnv(t)
	const events, dataBytes = 300, 256 << 10
	for range events {
		spec := jobSpec(domain.JobTypeTraining)
		spec.InitialData = make([]byte, dataBytes)
		if _, _, _, err := x.h.SubmitJob(x.ctx, commands.SubmitJob{Owner: "bulk", Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	x.awaitReadModel() // the read model has applied the log: its batches are garbage
	before := heap()

	req, _ := http.NewRequestWithContext(x.ctx, http.MethodGet, x.url+"/api/events/stream?after=0", nil)
	req.Header.Set("Authorization", "Bearer "+x.token)
	resp, err := x.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 1<<20)
	for { // the first event arrives, then the client stops reading
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if len(line) > 4 && line[:4] == "id: " {
			break
		}
	}
	var peak uint64
	for range 20 { // the server fills the socket buffers, then blocks
		time.Sleep(100 * time.Millisecond)
		peak = max(peak, heap())
	}
	held := int64(peak) - int64(before)
	t.Logf("a stalled replay of %d events of %d KiB holds %.1f MiB of heap (the log: %.1f MiB)",
		events, dataBytes>>10, float64(held)/(1<<20), float64(events*dataBytes)/(1<<20))
	if bound := int64(32 << 20); held > bound {
		t.Errorf("a stalled replay holds %d MiB, over %d MiB: the replay is not paged", held>>20, bound>>20)
	}
}
