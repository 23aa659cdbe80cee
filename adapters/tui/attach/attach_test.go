package attach

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/rest"
)

// TestStreamReconnects: the source signals a change per event frame,
// resumes after the last id when the stream breaks, and reports the state.
func TestStreamReconnects(t *testing.T) {
	var mu sync.Mutex
	var lastIDs []string
	conns := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/events/stream" || r.Header.Get("Authorization") != "Bearer T" {
			http.Error(w, `{"error":{"code":"unauthenticated","message":"no"}}`, http.StatusUnauthorized)
			return
		}
		mu.Lock()
		conns++
		n := conns
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 2000\n: hello\n\n")
		if n == 1 {
			fmt.Fprint(w, "id: 7\nevent: JobSubmitted\ndata: {}\n\n: heartbeat\n\nid: 9\nevent: JobAssigned\ndata: {}\n\n")
			return // the server goes away
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	src, err := New(srv.URL, "T", Options{MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := conns
		mu.Unlock()
		if n >= 2 && src.Conn().Live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnection: %d connections, state %+v", n, src.Conn())
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if lastIDs[0] != "" || lastIDs[1] != "9" {
		t.Errorf("Last-Event-ID of the connections: %q, want none then 9", lastIDs)
	}
	if p := src.Conn().Position; p != 9 {
		t.Errorf("position %d, want 9", p)
	}
	select {
	case <-src.Changes():
	default:
		t.Error("no change signalled")
	}
	logs := src.Logs().Lines(0, 0)
	var text []string
	for _, l := range logs {
		text = append(text, l.Text)
	}
	if joined := strings.Join(text, "\n"); !strings.Contains(joined, "reconnecting in") || !strings.Contains(joined, "event stream open (after position 9)") {
		t.Errorf("the console's log does not tell the story:\n%s", joined)
	}
}

func TestErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"error":{"code":"permission_denied","message":"this API needs an operator or admin token"}}`)
	}))
	defer srv.Close()
	for _, c := range []struct {
		api, want string
	}{
		{"ftp://x", "want the REST API's base URL"},
		{"127.0.0.1:8080", "want the REST API's base URL"},
	} {
		if _, err := New(c.api, "T", Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q) = %v, want %q", c.api, err, c.want)
		}
	}
	src, err := New(srv.URL+"/", "T", Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Stats(context.Background())
	if err == nil || !strings.Contains(err.Error(), "403 this API needs an operator or admin token") || !strings.Contains(err.Error(), "--role operator") {
		t.Fatalf("Stats = %v", err)
	}
}

// TestRefreshWhileReadModelBehind: an answer from a read model that has not
// applied the last streamed event brings one more refresh, an answer that
// has does not, and a read model that never catches up is not polled
// without end.
func TestRefreshWhileReadModelBehind(t *testing.T) {
	var mu sync.Mutex
	applied := "3"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		w.Header().Set(rest.ReadPositionHeader, applied)
		mu.Unlock()
		fmt.Fprint(w, `{}`)
	}))
	defer srv.Close()
	src, err := New(srv.URL, "T", Options{})
	if err != nil {
		t.Fatal(err)
	}
	src.pos.Store(5) // the stream delivered event 5
	var out struct{}
	fetch := func() {
		t.Helper()
		if err := src.get(t.Context(), "/api/stats", nil, &out); err != nil {
			t.Fatal(err)
		}
	}
	signalled := func(within time.Duration) bool {
		select {
		case <-src.Changes():
			return true
		case <-time.After(within):
			return false
		}
	}

	fetch()
	if !signalled(5 * time.Second) {
		t.Fatal("an answer at position 3 after event 5 was streamed brought no refresh")
	}

	mu.Lock()
	applied = "5"
	mu.Unlock()
	fetch()
	if signalled(3 * recheckAfter) {
		t.Fatal("an answer that reflects the last streamed event brought a refresh")
	}

	mu.Lock()
	applied = "3"
	mu.Unlock()
	rechecks := 1 // the first fetch's
	for range 2 * maxRechecks {
		fetch()
		if signalled(2 * time.Second) {
			rechecks++
			continue
		}
		break
	}
	if rechecks != maxRechecks {
		t.Fatalf("a read model stuck behind the stream brought %d refreshes, want %d", rechecks, maxRechecks)
	}
}
