package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/rest"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/jackc/pgx/v5"
)

// restCall sends method path with token and returns the status and body.
func restCall(t *testing.T, s *testServer, method, path, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.app.RESTAddr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// TestOnlineRebuild: while clients submit jobs and read the job list, an
// admin rebuilds the PostgreSQL read models online; the rebuild is swapped
// in under the same schema name, a row tampered with before is right again,
// every job submitted during the rebuild is there, no request failed, no
// rebuild or retired schema is left, and `replay --verify` afterwards finds
// the live read models equal to a replay from position 0.
func TestOnlineRebuild(t *testing.T) {
	url, schema := postgresSchema(t)
	dir := t.TempDir()
	withPG := func(c *config.Config) { c.Database.URL, c.Database.Schema = url, schema }
	s := startServer(t, dir, Settings{}, withPG)
	alice := s.userToken("alice")
	var ids []string
	for range 200 {
		ids = append(ids, s.submit(alice, trainingJob()))
	}
	for _, id := range ids[:50] {
		if _, err := s.jobs().CancelJob(as(alice), &pb.CancelJobRequest{JobId: id}); err != nil {
			t.Fatal(err)
		}
	}
	operator, _, _ := s.iss.MintUser("op", "", rest.RoleOperator, time.Hour)
	admin, _, _ := s.iss.MintUser("root", "", rest.RoleAdmin, time.Hour)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	eventually(t, 10*time.Second, "read model caught up", func() bool {
		code, body := restCall(t, s, "GET", "/api/jobs/"+ids[len(ids)-1], operator)
		return code == 200 && strings.Contains(string(body), ids[len(ids)-1])
	})
	tampered := ids[100]
	if _, err := conn.Exec(ctx, "UPDATE "+pgx.Identifier{schema, "jobs"}.Sanitize()+" SET progress = 0.42 WHERE id = $1", tampered); err != nil {
		t.Fatal(err)
	}

	if code, body := restCall(t, s, "POST", "/api/admin/rebuild", operator); code != http.StatusForbidden {
		t.Fatalf("an operator started a rebuild: %d %s", code, body)
	}
	if code, body := restCall(t, s, "GET", "/api/admin/rebuild", admin); code != 200 || !strings.Contains(string(body), `"state":"idle"`) {
		t.Fatalf("status before any rebuild: %d %s", code, body)
	}

	// Writers and readers keep going through the rebuild and the swap.
	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		during    []string
		mu        sync.Mutex
		failures  atomic.Int64
		readCount atomic.Int64
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			resp, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: trainingJob()})
			if err != nil {
				failures.Add(1)
				t.Errorf("submit during the rebuild: %v", err)
				return
			}
			mu.Lock()
			during = append(during, resp.GetJobId())
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		for !stop.Load() {
			req, _ := http.NewRequest("GET", "http://"+s.app.RESTAddr()+"/api/jobs?limit=20&status=pending", nil)
			req.Header.Set("Authorization", "Bearer "+operator)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				failures.Add(1)
				t.Errorf("list during the rebuild: %v %v", err, resp)
				return
			}
			resp.Body.Close()
			readCount.Add(1)
		}
	}()

	var out bytes.Buffer
	err = replayOnline(ctx, "http://"+s.app.RESTAddr(), admin, 20*time.Millisecond, &out)
	time.Sleep(50 * time.Millisecond) // some traffic after the swap too
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("replay --online: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "swapped in at position") {
		t.Fatalf("output:\n%s", out.String())
	}
	st := s.app.rebuild.RebuildStatus()
	if st.State != rest.RebuildDone || st.Retired == "" || st.Position == 0 {
		t.Fatalf("status after: %+v", st)
	}
	if failures.Load() != 0 || readCount.Load() == 0 || len(during) == 0 {
		t.Fatalf("during the rebuild: %d failures, %d reads, %d submits", failures.Load(), readCount.Load(), len(during))
	}
	t.Logf("rebuild: %d events at %.0f events/s; %d jobs submitted and %d lists read meanwhile", st.Position, st.EventsPerSec, len(during), readCount.Load())

	// The rebuilt tables serve: the tampered row is right again, and the
	// jobs submitted during the rebuild are all there.
	var progress float64
	if err := conn.QueryRow(ctx, "SELECT progress FROM "+pgx.Identifier{schema, "jobs"}.Sanitize()+" WHERE id = $1", tampered).Scan(&progress); err != nil || progress != 0 {
		t.Fatalf("tampered row after the rebuild: progress %v, %v", progress, err)
	}
	last := during[len(during)-1]
	eventually(t, 10*time.Second, "the last job submitted during the rebuild", func() bool {
		code, body := restCall(t, s, "GET", "/api/jobs/"+last, operator)
		return code == 200 && strings.Contains(string(body), last)
	})
	code, body := restCall(t, s, "GET", "/api/jobs?limit=1", operator)
	var page struct {
		Total int `json:"total"`
	}
	if code != 200 || json.Unmarshal(body, &page) != nil || page.Total != len(ids)+len(during) {
		t.Fatalf("after the rebuild: %d jobs listed (%d), want %d: %s", page.Total, code, len(ids)+len(during), body)
	}
	var left []string
	rows, err := conn.Query(ctx, "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", schema+"_%")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		left = append(left, n)
	}
	if len(left) != 0 {
		t.Fatalf("schemas left behind: %v", left)
	}
	// Projection goes on into the adopted tables.
	after := s.submit(alice, trainingJob())
	eventually(t, 10*time.Second, "a job submitted after the swap", func() bool {
		code, _ := restCall(t, s, "GET", "/api/jobs/"+after, operator)
		return code == 200
	})
	s.stop()

	t.Setenv("CYXWIZ_EVENTSTORE_DATA_DIR", dir)
	t.Setenv("CYXWIZ_JWT_SECRET", testSecret)
	t.Setenv("CYXWIZ_DATABASE_URL", url)
	t.Setenv("CYXWIZ_DATABASE_SCHEMA", schema)
	var vout, verr bytes.Buffer
	if err := replayCmd([]string{"--verify"}, &vout, &verr); err != nil {
		t.Fatalf("replay --verify after the online rebuild: %v\n%s%s", err, vout.String(), verr.String())
	}
}

// TestOnlineRebuildRefused: in-memory read models cannot be rebuilt
// online (409, saying why); without a token 401.
func TestOnlineRebuildRefused(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{})
	admin, _, _ := s.iss.MintUser("root", "", rest.RoleAdmin, time.Hour)
	if code, body := restCall(t, s, "POST", "/api/admin/rebuild", admin); code != http.StatusConflict || !strings.Contains(string(body), "in memory") {
		t.Fatalf("memory model: %d %s", code, body)
	}
	if code, _ := restCall(t, s, "POST", "/api/admin/rebuild", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	var out bytes.Buffer
	if err := replayOnline(context.Background(), "http://"+s.app.RESTAddr(), admin, time.Millisecond, &out); err == nil || !strings.Contains(err.Error(), "in memory") {
		t.Fatalf("replay --online against a memory model: %v", err)
	}
}
