package main

import (
	"bytes"
	"context"
	"encoding/gob"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/snapshotfile"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/bolt"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/google/uuid"
)

// appendHistory appends envs to the log in dir, in order, as a server
// would have recorded them.
func appendHistory(t *testing.T, dir string, envs []projections.Envelope) {
	t.Helper()
	store, err := bolt.Open(filepath.Join(dir, "events.db"), bolt.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	codec := commands.NewCodec()
	for _, e := range envs {
		data, err := codec.NewEvent(uuid.NewString(), e.Event, e.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(context.Background(), e.Stream, eventstore.Any(), data); err != nil {
			t.Fatal(err)
		}
	}
}

// replayed is the read model and the departures a replay of the whole
// log in dir builds.
func replayed(t *testing.T, dir string) (*memory.State, map[string][]string) {
	t.Helper()
	store, err := bolt.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	codec := commands.NewCodec()
	m := memory.New(memory.Config{MaxJobsPerNode: config.Default().Scheduler.MaxJobsPerNode})
	d := commands.NewDepartures()
	r := projections.NewRunner(store, codec, &observedModel{readModel: m, before: func(b []projections.Envelope) {
		for _, e := range b {
			d.Observe(e.Event)
		}
	}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.CaughtUp()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return readmodeltest.State(t, m, codec), d.Snapshot()
}

// restart starts a server on dir and stops it; it returns the events its
// runner applied (all of them without a snapshot) and its read model and
// departures once stopped.
func restart(t *testing.T, dir string) (applied uint64, st *memory.State, departures map[string][]string) {
	t.Helper()
	s := startServer(t, dir, Settings{}, func(c *config.Config) { c.Database.KeepFinishedJobs = 0 })
	app := s.app
	applied = app.runner.Stats().Applied
	s.stop()
	return applied, readmodeltest.State(t, app.model.(*memory.Model), commands.NewCodec()), app.snaps.departures.Snapshot()
}

// TestSnapshotStart: a server stopped cleanly leaves a snapshot; the next
// start loads it and replays only the log after it, and ends where a
// replay of the whole log ends, read model and departures alike. A
// damaged snapshot, one of another format and one of another log are
// ignored: the whole log is replayed.
func TestSnapshotStart(t *testing.T) {
	envs := readmodeltest.RealisticPaid(3000, 6, 11)
	half := len(envs) * 3 / 4 // the tail a start after the snapshot replays is a quarter
	tests := []struct {
		name     string
		spoil    func(t *testing.T, dir, snap string)
		fromSnap bool
	}{
		{"snapshot + tail", func(*testing.T, string, string) {}, true},
		{"damaged", func(t *testing.T, _, snap string) {
			data, err := os.ReadFile(snap)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(snap, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"another format", func(t *testing.T, _, snap string) {
			if err := snapshotfile.Write(snap, snapshotVersion+1, func(w io.Writer) error {
				return gob.NewEncoder(w).Encode(savedState{Model: &memory.State{Checkpoint: 1}})
			}); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"another log", func(t *testing.T, dir, snap string) {
			if err := os.Remove(filepath.Join(dir, "events.db")); err != nil {
				t.Fatal(err)
			}
			appendHistory(t, dir, readmodeltest.RealisticPaid(3000, 6, 12)[:half+10])
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			appendHistory(t, dir, envs[:half])
			restart(t, dir)
			snap := filepath.Join(dir, snapshotFileName)
			if _, err := os.Stat(snap); err != nil {
				t.Fatalf("no snapshot after a clean stop: %v", err)
			}
			tt.spoil(t, dir, snap)
			appendHistory(t, dir, envs[half:])
			applied, got, gotDepartures := restart(t, dir)
			want, wantDepartures := replayed(t, dir)
			if fromSnap := applied < want.Checkpoint/2; fromSnap != tt.fromSnap {
				t.Fatalf("start applied %d events of %d: from the snapshot %v, want %v", applied, want.Checkpoint, fromSnap, tt.fromSnap)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatal("read model after the restart differs from a replay of the whole log")
			}
			if !reflect.DeepEqual(gotDepartures, wantDepartures) {
				t.Fatalf("departures after the restart %v, a replay finds %v", gotDepartures, wantDepartures)
			}
			if len(wantDepartures) == 0 {
				t.Fatal("no departures in this history: nothing checked of them")
			}
		})
	}
}

// The periodic snapshot: none before the interval has passed, one once it
// has, taken between batches (the model's position is the snapshot's).
func TestSnapshotEveryInterval(t *testing.T) {
	dir := t.TempDir()
	envs := readmodeltest.RealisticPaid(400, 3, 5)
	appendHistory(t, dir, envs)
	store, err := bolt.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	codec := commands.NewCodec()
	m := memory.New(memory.Config{})
	clock := readmodeltest.At(0)
	s := newSnapshots(dir, time.Minute, m, commands.NewDepartures(), store, codec, testLogger(t))
	s.now, s.last = func() time.Time { return clock }, clock
	path := filepath.Join(dir, snapshotFileName)
	for i, e := range envs {
		if err := m.Apply(context.Background(), []projections.Envelope{e}, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		if i == len(envs)/2 {
			clock = clock.Add(time.Minute)
		}
		s.observe(nil)
		if i < len(envs)/2 {
			if _, err := os.Stat(path); err == nil {
				t.Fatalf("a snapshot after %d events, before the interval passed", i+1)
			}
		}
	}
	s.writing.Wait()
	data, err := snapshotfile.Read(path, snapshotVersion)
	if err != nil {
		t.Fatalf("no snapshot once the interval passed: %v", err)
	}
	var st savedState
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if want := uint64(len(envs)/2 + 1); st.Model.Checkpoint != want || st.EventID == "" {
		t.Fatalf("snapshot at position %d (event %q), want %d: the batch after which the interval passed", st.Model.Checkpoint, st.EventID, want)
	}
}

// A finished job the read model let go of (database.keep_finished_jobs)
// still answers GetJobStatus, from the log, and survives a restart from a
// snapshot that does not hold it.
func TestJobLetGoOfAnswersGetJobStatus(t *testing.T) {
	dir := t.TempDir()
	keep := func(c *config.Config) { c.Database.KeepFinishedJobs = 1 }
	s := startServer(t, dir, Settings{}, keep)
	alice := s.userToken("alice")
	var ids []string
	for range 20 { // past keep + 16 finished: the oldest are let go of
		id := s.submit(alice, trainingJob())
		if _, err := s.jobs().CancelJob(as(alice), &pb.CancelJobRequest{JobId: id, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	m := s.app.model.(*memory.Model)
	eventually(t, 10*time.Second, "jobs let go of", func() bool { return m.JobsHorizon() > 0 })
	check := func(s *testServer) {
		t.Helper()
		got := s.jobStatus(alice, ids[0])
		if got.GetStatus().GetJobId() != ids[0] || got.GetStatus().GetStatus() != pb.StatusCode_STATUS_CANCELLED {
			t.Fatalf("GetJobStatus of a job let go of: %v", got)
		}
	}
	check(s)
	s.stop()
	s = startServer(t, dir, Settings{}, keep)
	if s.app.model.(*memory.Model).JobsHorizon() == 0 {
		t.Fatal("the restart did not start from the snapshot's bounded model")
	}
	check(s)
}
