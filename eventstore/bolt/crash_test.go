package bolt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
)

// crashChildEnv, when set to a file path, turns the test binary into the
// appending child of TestCrashDurability.
const crashChildEnv = "CYXWIZ_EVENTSTORE_CRASH_CHILD"

// TestCrashDurability runs a child process that appends from many
// goroutines and prints each acknowledged event, SIGKILLs it mid-flight,
// reopens the file and finds every acknowledged event where its append
// said, with consistent indexes. (A killed process leaves the page cache
// intact, so this proves the commit protocol, not the disk's fsync.)
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	type ack struct {
		stream        string
		rev, position uint64
	}
	acks := map[string]ack{}
	const killAfter = 2000
	killed := false
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) != 5 || f[0] != "ack" {
			continue
		}
		rev, err1 := strconv.ParseUint(f[3], 10, 64)
		pos, err2 := strconv.ParseUint(f[4], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad ack line %q", lines.Text())
		}
		acks[f[1]] = ack{stream: f[2], rev: rev, position: pos}
		if len(acks) == killAfter && !killed {
			killed = true
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acks: %v\n%s", len(acks), err, stderr.String())
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	defer s.Close()
	verify(t, s)
	all, err := s.ReadAll(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := make(map[string]eventstore.RecordedEvent, len(all))
	for _, e := range all {
		found[e.ID] = e
	}
	for id, a := range acks {
		e, ok := found[id]
		if !ok {
			t.Fatalf("acknowledged event %s (%s/%d) is lost", id, a.stream, a.rev)
		}
		if e.Stream != a.stream || e.Revision != a.rev || e.Position != a.position {
			t.Fatalf("event %s is at %s/%d position %d; its append said %s/%d position %d",
				id, e.Stream, e.Revision, e.Position, a.stream, a.rev, a.position)
		}
	}
	t.Logf("%d events acknowledged before SIGKILL, %d recorded", len(acks), len(all))
}

// crashChild appends until killed, printing "ack <id> <stream> <revision>
// <position>" for each event once its append returned.
func crashChild(path string) {
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var out sync.Mutex
	for g := range 32 {
		go func() {
			stream := fmt.Sprintf("crash-%d", g)
			for i := 0; ; i++ {
				events := make([]eventstore.EventData, 1+i%3)
				for j := range events {
					events[j] = eventstore.EventData{ID: uuid.NewString(), Type: "Crash", Data: []byte(`{"i":` + strconv.Itoa(i) + `}`)}
				}
				res, err := s.Append(context.Background(), stream, eventstore.Any(), events...)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				var b strings.Builder
				first := uint64(len(events) - 1)
				for j, e := range events {
					fmt.Fprintf(&b, "ack %s %s %d %d\n", e.ID, stream, res.NextRevision-first+uint64(j), res.Position-first+uint64(j))
				}
				out.Lock()
				os.Stdout.WriteString(b.String())
				out.Unlock()
			}
		}()
	}
	time.Sleep(time.Minute) // the parent kills us long before
	os.Exit(2)
}
