package main

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/adapters/snapshotfile"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
)

// snapshotFileName is the snapshot's file in eventstore.data_dir.
const snapshotFileName = "readmodel.snap"

// snapshotVersion is the file's format: the read model's, and this
// package's envelope around it.
const snapshotVersion = 1<<16 | memory.SnapshotVersion

// savedState is what the snapshot file holds: the in-memory read model
// and the scheduler's departures at one log position, and which event the
// log holds there, so that a snapshot of another log is not loaded.
type savedState struct {
	Model      *memory.State
	Departures map[string][]string
	EventID    string // of the event at Model.Checkpoint
}

// snapshots saves the in-memory read model and the departures every
// interval (from the projection runner's goroutine, between two batches,
// so both are at one position; the encoding and the write run aside) and
// at a clean stop, and loads them at start.
type snapshots struct {
	path       string
	interval   time.Duration
	model      *memory.Model
	departures *commands.Departures
	store      eventstore.Store
	codec      memory.EventCodec
	log        *slog.Logger
	now        func() time.Time

	mu      sync.Mutex
	last    time.Time // of the last capture
	writing sync.WaitGroup
	busy    bool
}

func newSnapshots(dataDir string, interval time.Duration, model *memory.Model, departures *commands.Departures,
	store eventstore.Store, codec memory.EventCodec, log *slog.Logger) *snapshots {
	return &snapshots{path: filepath.Join(dataDir, snapshotFileName), interval: interval, model: model,
		departures: departures, store: store, codec: codec, log: log, now: time.Now, last: time.Now()}
}

// load restores the model and the departures from the snapshot file, if
// there is a usable one; else it logs why not and leaves them empty, for
// a replay of the whole log.
func (s *snapshots) load(ctx context.Context) {
	start := s.now()
	data, err := snapshotfile.Read(s.path, snapshotVersion)
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Info("no read-model snapshot: replaying the whole log", "path", s.path)
		return
	}
	if err != nil {
		s.log.Warn("read-model snapshot ignored: replaying the whole log", "err", err)
		return
	}
	var st savedState
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil || st.Model == nil {
		s.log.Warn("read-model snapshot ignored: replaying the whole log", "path", s.path, "err", fmt.Errorf("decode: %w", err))
		return
	}
	if err := s.matchesLog(ctx, &st); err != nil {
		s.log.Warn("read-model snapshot ignored: replaying the whole log", "path", s.path, "err", err)
		return
	}
	if err := s.model.Restore(st.Model, s.codec); err != nil {
		s.log.Warn("read-model snapshot ignored: replaying the whole log", "path", s.path, "err", err)
		return
	}
	s.departures.Restore(st.Departures)
	s.log.Info("read model loaded from its snapshot", "position", st.Model.Checkpoint, "jobs", len(st.Model.Jobs),
		"bytes", len(data), "took", s.now().Sub(start).Round(time.Millisecond))
}

// matchesLog checks that the log holds, at the snapshot's position, the
// event the snapshot was taken after.
func (s *snapshots) matchesLog(ctx context.Context, st *savedState) error {
	pos := st.Model.Checkpoint
	if pos == 0 {
		return nil
	}
	recs, err := s.store.ReadAll(ctx, pos-1, 1)
	if err != nil {
		return fmt.Errorf("read the log at position %d: %w", pos, err)
	}
	if len(recs) == 0 || recs[0].Position != pos || recs[0].ID != st.EventID {
		return fmt.Errorf("the log does not hold the snapshot's event %s at position %d: a snapshot of another log", st.EventID, pos)
	}
	return nil
}

// observe takes a snapshot once interval has passed since the last one;
// it is a runner observer, called after each batch is applied.
func (s *snapshots) observe([]projections.Envelope) {
	if s.interval <= 0 {
		return
	}
	s.mu.Lock()
	now := s.now()
	due := !s.busy && now.Sub(s.last) >= s.interval
	if due {
		s.busy, s.last = true, now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	st, err := s.capture()
	if err != nil {
		s.log.Warn("read-model snapshot not taken", "err", err)
		s.done()
		return
	}
	s.writing.Add(1)
	go func() {
		defer s.writing.Done()
		defer s.done()
		s.write(st)
	}()
}

func (s *snapshots) done() {
	s.mu.Lock()
	s.busy = false
	s.mu.Unlock()
}

// final waits for a snapshot being written, then writes one of the
// stopped read model.
func (s *snapshots) final() {
	s.writing.Wait()
	if st, err := s.capture(); err != nil {
		s.log.Warn("read-model snapshot not taken", "err", err)
	} else {
		s.write(st)
	}
}

// capture copies the model and the departures; it must run where no batch
// is being applied (the runner's goroutine, or once it stopped).
func (s *snapshots) capture() (*savedState, error) {
	st, err := s.model.Snapshot(s.codec)
	if err != nil {
		return nil, err
	}
	return &savedState{Model: st, Departures: s.departures.Snapshot()}, nil
}

// write saves st (when there is something to save).
func (s *snapshots) write(st *savedState) {
	pos := st.Model.Checkpoint
	if pos == 0 {
		return
	}
	start := s.now()
	recs, err := s.store.ReadAll(context.Background(), pos-1, 1)
	if err != nil || len(recs) == 0 || recs[0].Position != pos {
		s.log.Warn("read-model snapshot not written: cannot read its position in the log", "position", pos, "err", err)
		return
	}
	st.EventID = recs[0].ID
	err = snapshotfile.Write(s.path, snapshotVersion, func(w io.Writer) error { return gob.NewEncoder(w).Encode(st) })
	if err != nil {
		s.log.Warn("read-model snapshot not written", "err", err)
		return
	}
	s.log.Info("read-model snapshot written", "position", pos, "jobs", len(st.Model.Jobs), "took", s.now().Sub(start).Round(time.Millisecond))
}
