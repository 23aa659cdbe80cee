package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/postgres"
	"github.com/cyxwiz/central-server/eventstore/postgres/pgtest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// waitFor polls cond until it holds, failing after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// beginAppend opens transaction A on its own connection and appends one
// event to stream through append_events, leaving A open: A holds a
// position. It returns the connection, the transaction and the position.
func beginAppend(t *testing.T, url, schema, stream string, id uuid.UUID) (pgx.Tx, uint64) {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var kind int16
	var pos int64
	err = tx.QueryRow(t.Context(), `SELECT kind, pos FROM append_events(0, $1, 0::smallint, 0::bigint, $2, $3, $4, $5, $6, $7, $8)`,
		stream, []string{id.String()}, []string{"A"}, []*string{nil}, [][]byte{nil},
		[]string{""}, []string{""}, []string{"test"}).Scan(&kind, &pos)
	if err != nil || kind != 0 {
		t.Fatalf("append in transaction A: kind %d, %v", kind, err)
	}
	return tx, uint64(pos)
}

// TestOutOfOrderCommit: transaction A takes a position and stays open; B
// appends after it and commits. A live subscriber must not deliver B while
// A is open (delivering it would move its checkpoint past A's position for
// good); once A commits, or rolls back, it delivers every committed event
// once, in position order.
func TestOutOfOrderCommit(t *testing.T) {
	for _, commitA := range []bool{true, false} {
		name := "rollback A"
		if commitA {
			name = "commit A"
		}
		t.Run(name, func(t *testing.T) {
			url := pgtest.URL(t)
			schema := pgtest.Schema(t, url)
			st := open(t, url, schema, postgres.Options{Poll: 20 * time.Millisecond})
			sub, err := st.SubscribeAll(t.Context(), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if m := recv(t, sub); !m.CaughtUp {
				t.Fatalf("first message %+v, want CaughtUp", m)
			}

			idA := uuid.New()
			txA, posA := beginAppend(t, url, schema, "stream-a", idA)
			b := eventstore.EventData{ID: uuid.NewString(), Type: "B", Data: []byte(`{"b":1}`)}
			resB, err := st.Append(t.Context(), "stream-b", eventstore.NoStream(), b)
			if err != nil {
				t.Fatal(err)
			}
			if resB.Position <= posA {
				t.Fatalf("B at %d, A at %d: want B after A", resB.Position, posA)
			}
			// The tracker has seen B's position and has been waiting on A.
			waitFor(t, "the tracker to see B and wait on A", func() bool {
				s := st.Stats()
				return s.Issued >= resB.Position && s.Waiting > 200*time.Millisecond
			})
			if h := st.Stats().Horizon; h >= posA {
				t.Fatalf("horizon %d reaches A's open position %d", h, posA)
			}
			select {
			case m := <-sub.C():
				t.Fatalf("delivered %+v while A (position %d) is open", m, posA)
			default:
			}
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			_, err = st.ReadAll(ctx, 0, 0)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("ReadAll while A is open: %v, want it to wait for A", err)
			}

			want := []string{b.ID}
			if commitA {
				want = []string{idA.String(), b.ID}
				err = txA.Commit(t.Context())
			} else {
				err = txA.Rollback(t.Context())
			}
			if err != nil {
				t.Fatal(err)
			}
			c := eventstore.EventData{ID: uuid.NewString(), Type: "C"}
			resC, err := st.Append(t.Context(), "stream-c", eventstore.NoStream(), c)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, c.ID)
			var last uint64
			for i, id := range want {
				m := recv(t, sub)
				if m.Event == nil || m.Event.ID != id || m.Event.Position <= last {
					t.Fatalf("message #%d: %+v, want event %s after position %d", i, m, id, last)
				}
				last = m.Event.Position
			}
			if last != resC.Position {
				t.Fatalf("C delivered at %d, appended at %d", last, resC.Position)
			}
			all, err := st.ReadAll(t.Context(), 0, 0)
			if err != nil || len(all) != len(want) {
				t.Fatalf("ReadAll: %d events, %v; want %d", len(all), err, len(want))
			}
		})
	}
}

// recv returns the subscription's next message, failing after a bound.
func recv(t *testing.T, sub eventstore.Subscription) eventstore.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		if !ok {
			t.Fatalf("subscription ended: %v", sub.Err())
		}
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no message within 30s")
	}
	panic("unreachable")
}
