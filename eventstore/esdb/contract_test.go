package esdb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/esdb"
	"github.com/cyxwiz/central-server/eventstore/esdb/esdbtest"
	"github.com/cyxwiz/central-server/eventstore/storetest"
	"github.com/google/uuid"
)

// These tests run the adapter against esdbtest.ContractFake (see
// esdbtest/esdb_contract_fake.go), an in-process imitation of the server's
// gRPC contract: they exercise the adapter's wiring to the v4 client, not
// EventStoreDB itself. conformance_test.go runs the same suite against a
// real server when CYXWIZ_TEST_ESDB_URL is set.

// open opens a store on the fake; it is closed at the end of the test.
func open(t testing.TB, f *esdbtest.ContractFake, opts ...esdb.Option) *esdb.Store {
	t.Helper()
	opts = append([]esdb.Option{esdb.WithConnectTimeout(5 * time.Second), esdb.WithResubscribeBackoff(10*time.Millisecond, 100*time.Millisecond)}, opts...)
	st, err := esdb.Open(t.Context(), f.URL(), opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", f.URL(), err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newEvent(typ string) eventstore.EventData {
	id := uuid.NewString()
	return eventstore.EventData{ID: id, Type: typ, Data: []byte(`{"k":"` + id[:4] + `"}`),
		Metadata: eventstore.Metadata{CorrelationID: "corr-" + id[:8], CausationID: "cause-" + id[:8], Actor: "contract"}}
}

func next(t *testing.T, sub eventstore.Subscription) eventstore.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		if !ok {
			t.Fatalf("subscription ended: %v", sub.Err())
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no subscription message within 10s")
	}
	panic("unreachable")
}

// TestContractConformance runs the whole conformance suite against the
// contract fake, one fake server per store; Reopen opens a new store on the
// same fake.
func TestContractConformance(t *testing.T) {
	var fakes sync.Map // *esdb.Store → *esdbtest.ContractFake
	storetest.Run(t,
		func(t *testing.T) eventstore.Store {
			f := esdbtest.NewContractFake(t)
			st := open(t, f)
			fakes.Store(st, f)
			return st
		},
		func(t *testing.T, old eventstore.Store) eventstore.Store {
			f, _ := fakes.Load(old)
			return open(t, f.(*esdbtest.ContractFake))
		})
}

// TestContractConformanceStrict runs the suite with every append checked
// against the stream first.
func TestContractConformanceStrict(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		return open(t, esdbtest.NewContractFake(t), esdb.WithStrictIdempotency())
	}, nil)
}

func TestContractWrongExpectedRevisionIsTyped(t *testing.T) {
	f := esdbtest.NewContractFake(t)
	st := open(t, f)
	ctx := t.Context()
	if _, err := st.Append(ctx, "job-1", eventstore.NoStream(), newEvent("JobSubmitted"), newEvent("JobAssigned")); err != nil {
		t.Fatal(err)
	}
	_, err := st.Append(ctx, "job-1", eventstore.Exact(0), newEvent("JobStarted"))
	var wrong *eventstore.WrongExpectedRevisionError
	if !errors.As(err, &wrong) || !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("Append at a stale revision: %v, want a *WrongExpectedRevisionError", err)
	}
	if wrong.Stream != "job-1" || !wrong.Exists || wrong.Actual != 1 || wrong.Expected != eventstore.Exact(0) {
		t.Fatalf("error %+v, want stream job-1 at revision 1, expected revision 0", wrong)
	}
	_, err = st.Append(ctx, "job-2", eventstore.StreamExists(), newEvent("JobStarted"))
	if !errors.As(err, &wrong) || wrong.Exists {
		t.Fatalf("Append StreamExists to a missing stream: %v (%+v), want no stream", err, wrong)
	}
}

func TestContractEnvelopeMapping(t *testing.T) {
	f := esdbtest.NewContractFake(t)
	st := open(t, f)
	e := newEvent("JobSubmitted")
	bin := eventstore.EventData{ID: uuid.NewString(), Type: "Blob", Data: []byte{0xff, 0x00}}
	if _, err := st.Append(t.Context(), "job-9", eventstore.NoStream(), e, bin); err != nil {
		t.Fatal(err)
	}
	raw := f.Raw("job-9")
	if len(raw) != 2 {
		t.Fatalf("server has %d events", len(raw))
	}
	var meta map[string]string
	if err := json.Unmarshal(raw[0].Metadata, &meta); err != nil {
		t.Fatalf("custom metadata %q: %v", raw[0].Metadata, err)
	}
	want := map[string]string{"$correlationId": e.Metadata.CorrelationID, "$causationId": e.Metadata.CausationID, "actor": "contract"}
	for k, v := range want {
		if meta[k] != v {
			t.Fatalf("custom metadata %v, want %v", meta, want)
		}
	}
	if raw[0].ContentType != "application/json" || raw[1].ContentType != "application/octet-stream" {
		t.Fatalf("content types %q, %q", raw[0].ContentType, raw[1].ContentType)
	}
	if raw[0].ID.String() != e.ID || raw[0].Type != "JobSubmitted" || !bytes.Equal(raw[0].Data, e.Data) {
		t.Fatalf("server event %+v, sent %+v", raw[0], e)
	}
	got, err := st.ReadStream(t.Context(), "job-9", 0, 0)
	if err != nil || len(got) != 2 || got[0].Metadata != e.Metadata || got[1].Metadata != (eventstore.Metadata{}) ||
		got[0].Position != raw[0].Position || got[1].Position != raw[1].Position {
		t.Fatalf("read back %+v, %v", got, err)
	}
}

func TestContractRefusesSystemNames(t *testing.T) {
	st := open(t, esdbtest.NewContractFake(t))
	if _, err := st.Append(t.Context(), "$stats", eventstore.Any(), newEvent("E")); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("append to $stats: %v", err)
	}
	if _, err := st.Append(t.Context(), "s", eventstore.Any(), newEvent("$metadata")); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("append of type $metadata: %v", err)
	}
}

// TestContractSystemEventsFiltered: system events the server writes are in
// neither ReadAll nor a subscription, and the subscription asks the server
// to filter them.
func TestContractSystemEventsFiltered(t *testing.T) {
	f := esdbtest.NewContractFake(t)
	st := open(t, f)
	a, b := newEvent("A"), newEvent("B")
	if _, err := st.Append(t.Context(), "s", eventstore.NoStream(), a); err != nil {
		t.Fatal(err)
	}
	f.AppendSystem("$$s", "$metadata")
	f.AppendSystem("$ce-s", "$>")
	if _, err := st.Append(t.Context(), "s", eventstore.Exact(0), b); err != nil {
		t.Fatal(err)
	}
	all, err := st.ReadAll(t.Context(), 0, 0)
	if err != nil || len(all) != 2 || all[0].ID != a.ID || all[1].ID != b.ID {
		t.Fatalf("ReadAll = %+v, %v; want only the two user events", all, err)
	}
	page, err := st.ReadAll(t.Context(), all[0].Position, 1)
	if err != nil || len(page) != 1 || page[0].ID != b.ID {
		t.Fatalf("ReadAll after the first = %+v, %v", page, err)
	}
	sub, err := st.SubscribeAll(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for _, want := range []string{a.ID, b.ID} {
		if m := next(t, sub); m.Event == nil || m.Event.ID != want {
			t.Fatalf("got %+v, want event %s", m, want)
		}
	}
	if m := next(t, sub); !m.CaughtUp {
		t.Fatalf("got %+v, want CaughtUp", m)
	}
	fo := f.LastFilter()
	if fo == nil || fo.GetEventType().GetRegex() != `^[^\$].*` {
		t.Fatalf("subscription filter %v, want the event-type filter that excludes system events", fo)
	}
}

// TestContractResubscribeAfterDrop: the fake drops the subscription (as a
// server restart would) in the middle of the catch-up and again when live;
// the subscriber sees every event once, in order, and one CaughtUp.
func TestContractResubscribeAfterDrop(t *testing.T) {
	f := esdbtest.NewContractFake(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st := open(t, f, esdb.WithLogger(log))
	var want []string
	for i := range 300 {
		e := newEvent("Pre")
		want = append(want, e.ID)
		if _, err := st.Append(t.Context(), "pre-"+string(rune('a'+i%5)), eventstore.Any(), e); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := st.SubscribeAll(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got, caughtUp := 0, 0
	read := func(n int) {
		t.Helper()
		for got < n {
			m := next(t, sub)
			if m.CaughtUp {
				caughtUp++
				if got < 300 {
					t.Fatalf("CaughtUp after %d of the 300 events recorded before subscribing", got)
				}
				continue
			}
			if m.Event.ID != want[got] {
				t.Fatalf("event #%d is %s, want %s", got, m.Event.ID, want[got])
			}
			got++
		}
	}
	read(100)
	f.DropSubscriptions()
	read(300)
	live := func(n int) {
		t.Helper()
		for range n {
			e := newEvent("Live")
			want = append(want, e.ID)
			if _, err := st.Append(t.Context(), "live", eventstore.Any(), e); err != nil {
				t.Fatal(err)
			}
		}
	}
	live(5)
	read(305)
	f.DropSubscriptions()
	live(5)
	read(310)
	if caughtUp != 1 {
		t.Fatalf("%d CaughtUp messages, want 1", caughtUp)
	}
	if n := f.Subscriptions(); n < 3 {
		t.Fatalf("the fake saw %d subscriptions, want at least 3 (two resubscriptions)", n)
	}
	s := sub.(*esdb.Subscription)
	if s.Resubscriptions() < 2 || s.Checkpoint() == 0 {
		t.Fatalf("resubscriptions %d, checkpoint %d", s.Resubscriptions(), s.Checkpoint())
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, "resubscribing from its checkpoint") || !strings.Contains(out, "component=esdb-client") {
		t.Fatalf("the drop and the client's own lines are not in the store's log:\n%s", out)
	}
}

// TestContractCaughtUpWithoutServerSignal: a server before 23.10 sends no
// caught-up message; the subscription detects it from the head of $all.
func TestContractCaughtUpWithoutServerSignal(t *testing.T) {
	f := esdbtest.NewContractFake(t)
	f.SetNoCaughtUp(true)
	st := open(t, f)
	for range 5 {
		if _, err := st.Append(t.Context(), "s", eventstore.Any(), newEvent("E")); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := st.SubscribeAll(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range 5 {
		if m := next(t, sub); m.Event == nil {
			t.Fatalf("message #%d: %+v, want an event", i, m)
		}
	}
	if m := next(t, sub); !m.CaughtUp {
		t.Fatalf("got %+v, want CaughtUp", m)
	}
	// From the head: caught up at once.
	all, _ := st.ReadAll(t.Context(), 0, 0)
	sub2, err := st.SubscribeAll(t.Context(), all[len(all)-1].Position)
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	if m := next(t, sub2); !m.CaughtUp {
		t.Fatalf("got %+v, want CaughtUp", m)
	}
}

// TestContractIdempotencyLimits pins the documented difference: without
// WithStrictIdempotency, an append at the current revision whose IDs were
// recorded earlier in the stream is recorded again (as EventStoreDB does);
// with it, it is recognised as a retry.
func TestContractIdempotencyLimits(t *testing.T) {
	for _, strict := range []bool{false, true} {
		f := esdbtest.NewContractFake(t)
		var opts []esdb.Option
		if strict {
			opts = append(opts, esdb.WithStrictIdempotency())
		}
		st := open(t, f, opts...)
		e := newEvent("Paid")
		orig, err := st.Append(t.Context(), "pay", eventstore.NoStream(), e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(t.Context(), "pay", eventstore.Exact(0), newEvent("Settled")); err != nil {
			t.Fatal(err)
		}
		res, err := st.Append(t.Context(), "pay", eventstore.Exact(1), e)
		events, _ := st.ReadStream(t.Context(), "pay", 0, 0)
		switch {
		case err != nil:
			t.Fatalf("strict=%v: %v", strict, err)
		case strict && (res != orig || len(events) != 2):
			t.Fatalf("strict: %+v and %d events, want %+v and 2", res, len(events), orig)
		case !strict && len(events) != 3:
			t.Fatalf("not strict: %d events, want the duplicate recorded (3)", len(events))
		}
	}
}

func TestContractOpenUnreachable(t *testing.T) {
	f := esdbtest.NewContractFake(t)
	url := f.URL()
	f.Stop()
	start := time.Now()
	_, err := esdb.Open(t.Context(), url, esdb.WithConnectTimeout(3*time.Second))
	if !errors.Is(err, esdb.ErrUnreachable) || !strings.Contains(err.Error(), f.Addr()) {
		t.Fatalf("Open on a stopped server: %v, want ErrUnreachable naming the address", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Open took %s", d)
	}
	if _, err := esdb.Open(t.Context(), "esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1", esdb.WithConnectTimeout(200*time.Millisecond)); !errors.Is(err, esdb.ErrUnreachable) {
		t.Fatalf("Open on a closed port: %v", err)
	}
}

// TestContractCloseEndsSubscriptions: the store's Close ends its
// subscriptions with a nil error, and a canceled context ends one with
// context.Canceled.
func TestContractCloseEndsSubscriptions(t *testing.T) {
	f := esdbtest.NewContractFake(t)
	st, err := esdb.Open(t.Context(), f.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	canceled, err := st.SubscribeAll(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	live, err := st.SubscribeAll(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if m := next(t, live); !m.CaughtUp {
		t.Fatalf("got %+v", m)
	}
	cancel()
	for range canceled.C() {
	}
	if !errors.Is(canceled.Err(), context.Canceled) {
		t.Fatalf("canceled subscription: %v", canceled.Err())
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for range live.C() {
	}
	if live.Err() != nil {
		t.Fatalf("subscription of a closed store: %v", live.Err())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestContractNamespace: stores with different namespaces share a server
// without seeing each other's events; the subscription filters on the
// namespace's stream prefix server-side.
func TestContractNamespace(t *testing.T) {
	f := esdbtest.NewContractFake(t)
	a := open(t, f, esdb.WithNamespace("a-"))
	b := open(t, f, esdb.WithNamespace("b-"))
	ea, eb := newEvent("E"), newEvent("E")
	if _, err := a.Append(t.Context(), "s", eventstore.NoStream(), ea); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(t.Context(), "s", eventstore.NoStream(), eb); err != nil {
		t.Fatal(err)
	}
	if raw := f.Raw("a-s"); len(raw) != 1 || raw[0].ID.String() != ea.ID {
		t.Fatalf("server stream a-s: %+v", raw)
	}
	all, err := b.ReadAll(t.Context(), 0, 0)
	if err != nil || len(all) != 1 || all[0].ID != eb.ID || all[0].Stream != "s" {
		t.Fatalf("b.ReadAll = %+v, %v", all, err)
	}
	sub, err := a.SubscribeAll(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if m := next(t, sub); m.Event == nil || m.Event.ID != ea.ID || m.Event.Stream != "s" {
		t.Fatalf("got %+v, want a's event", m)
	}
	if m := next(t, sub); !m.CaughtUp {
		t.Fatalf("got %+v, want CaughtUp", m)
	}
	if fo := f.LastFilter(); fo == nil || len(fo.GetStreamIdentifier().GetPrefix()) != 1 || fo.GetStreamIdentifier().GetPrefix()[0] != "a-" {
		t.Fatalf("filter %v, want the stream prefix a-", fo)
	}
}

// TestContractServerRestart: the server goes away for longer than the
// client's discovery attempts (after which the v4 client gives up for
// good) and comes back on the same address: appends during the outage
// fail, and afterwards the store works again and the subscription resumes
// from its checkpoint without a gap or a duplicate.
func TestContractServerRestart(t *testing.T) {
	f := esdbtest.NewContractFake(t)
	logs := lockedWriter{w: &bytes.Buffer{}, mu: &sync.Mutex{}}
	st, err := esdb.Open(t.Context(), f.URL()+"&maxDiscoverAttempts=2&discoveryInterval=50",
		esdb.WithResubscribeBackoff(20*time.Millisecond, 200*time.Millisecond), esdb.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var want []string
	add := func() error {
		e := newEvent("E")
		_, err := st.Append(t.Context(), "s", eventstore.Any(), e)
		if err == nil {
			want = append(want, e.ID)
		}
		return err
	}
	for range 3 {
		if err := add(); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := st.SubscribeAll(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := 0
	read := func(n int) {
		t.Helper()
		for got < n {
			m := next(t, sub)
			if m.CaughtUp {
				continue
			}
			if m.Event.ID != want[got] {
				t.Fatalf("event #%d is %s, want %s", got, m.Event.ID, want[got])
			}
			got++
		}
	}
	read(3)
	f.Stop()
	if err := add(); err == nil {
		t.Fatal("append succeeded with the server down")
	}
	time.Sleep(500 * time.Millisecond) // past the client's discovery attempts
	f.Restart(t, 0)
	deadline := time.Now().Add(10 * time.Second)
	for add() != nil {
		if time.Now().After(deadline) {
			t.Fatal("appends still fail 10s after the server came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := add(); err != nil {
		t.Fatal(err)
	}
	read(len(want))
	if sub.(*esdb.Subscription).Resubscriptions() == 0 {
		t.Fatal("the subscription did not resubscribe")
	}
	logs.mu.Lock()
	renewed := strings.Contains(logs.w.String(), "EventStoreDB connection lost; reconnecting")
	logs.mu.Unlock()
	t.Logf("the client gave up during the outage and was renewed: %v", renewed)
}

// TestContractOutageDoesNotHang: while the server is down, concurrent
// calls all return (with an error) instead of hanging. The v4 client
// leaves calls that queue up behind a failing discovery blocked forever;
// the adapter abandons them when it replaces the dead client.
func TestContractOutageDoesNotHang(t *testing.T) {
	f := esdbtest.NewContractFake(t)
	st, err := esdb.Open(t.Context(), f.URL()+"&maxDiscoverAttempts=3&discoveryInterval=100")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Append(t.Context(), "s", eventstore.NoStream(), newEvent("E")); err != nil {
		t.Fatal(err)
	}
	f.Stop()
	var wg sync.WaitGroup
	stuck := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			end := time.Now().Add(1500 * time.Millisecond)
			for time.Now().Before(end) {
				done := make(chan struct{})
				go func() {
					defer close(done)
					if g%2 == 0 {
						_, _ = st.Append(context.Background(), "s", eventstore.Exact(0), newEvent("E"))
					} else {
						_, _ = st.ReadStream(context.Background(), "s", 0, 0)
					}
				}()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					stuck <- "a call hung for 10s while the server was down"
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(stuck)
	for msg := range stuck {
		t.Fatal(msg)
	}
	f.Restart(t, 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := st.ReadStream(t.Context(), "s", 0, 0)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reads still fail 10s after the server came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
