package bolt_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore/bolt"
	"golang.org/x/sys/unix"
)

// BenchmarkOpenLarge opens and closes the store in the file
// CYXWIZ_BOLT_FILE (a large log, e.g. one the scale benchmark in
// cmd/cyxwiz-central built; skipped without it), reading its head, with
// the file's pages warm or dropped from the page cache first
// (posix_fadvise POSIX_FADV_DONTNEED, as vmtouch -e does). One op is one
// open.
func BenchmarkOpenLarge(b *testing.B) {
	path := os.Getenv("CYXWIZ_BOLT_FILE")
	if path == "" {
		b.Skip("set CYXWIZ_BOLT_FILE to a large event store file")
	}
	for _, cold := range []bool{false, true} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				if cold {
					dropPages(b, path)
				}
				start := time.Now()
				s, err := bolt.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.ReadAll(context.Background(), 0, 1); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "open-ms")
		})
	}
}

func dropPages(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}
