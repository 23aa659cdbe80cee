package main

// Benchmarks of the read side of a real server: how far the read model
// (in memory, or in PostgreSQL) trails the event log under a steady load,
// and how fast the REST API lists jobs from a large read model. Results
// and the machine they ran on are in docs/benchmarks.md. They skip under
// -short; the PostgreSQL ones skip without PostgreSQL (and fail under
// CI=true), like TestPostgresReadModels.
//
//	go test ./cmd/cyxwiz-central -run '^$' -bench ProjectionLag -benchtime 1x
//	go test ./cmd/cyxwiz-central -run '^$' -bench RESTListJobs -timeout 30m
//
// CYXWIZ_TEST_POSTGRES_URL names the PostgreSQL server (default
// postgres://postgres@127.0.0.1:5432/test); CYXWIZ_BENCH_EXPLAIN=1 logs the
// plan of each list query after seeding.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/jackc/pgx/v5"
)

// benchPostgres returns a config tweak that puts the read models in a
// fresh PostgreSQL schema, dropped when tb ends. Without PostgreSQL it
// skips loudly, and fails under CI=true (postgresSchema, for any TB).
func benchPostgres(tb testing.TB) func(*config.Config) {
	tb.Helper()
	dsn := os.Getenv("CYXWIZ_TEST_POSTGRES_URL")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		err = conn.Ping(ctx)
	}
	if err != nil {
		msg := "POSTGRESQL UNREACHABLE at " + dsn + " (set CYXWIZ_TEST_POSTGRES_URL): " + err.Error() + " — this benchmark did NOT run"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "bench_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			c.Close(ctx)
		}
	})
	return func(c *config.Config) { c.Database.URL, c.Database.Schema = dsn, schema }
}

// readSideBackends runs fn once per read model: "memory", and "postgres"
// (skipped without PostgreSQL).
func readSideBackends(b *testing.B, fn func(b *testing.B, tweak ...func(*config.Config))) {
	if testing.Short() {
		b.Skip("read-side benchmarks start a server and load it for many seconds; not with -short")
	}
	b.Run("memory", func(b *testing.B) { fn(b) })
	b.Run("postgres", func(b *testing.B) { fn(b, benchPostgres(b)) })
}

// storeHead returns the position of the last event in the log (logHead).
func storeHead(tb testing.TB, store eventstore.Store) uint64 {
	tb.Helper()
	head, err := logHead(context.Background(), store)
	if err != nil {
		tb.Fatal(err)
	}
	return head
}

// Projection lag load: lagRate commands/s for lagDuration, from
// lagWorkers goroutines. A SubmitJob returns only once the read model
// shows the job, so the workers are many enough that a lag of up to
// lagWorkers/lagRate (64 ms) still lets them keep the rate.
const (
	lagRate     = 1000
	lagDuration = 10 * time.Second
	lagWorkers  = 64
)

// BenchmarkProjectionLag: a real server takes lagRate SubmitJob/s for
// lagDuration (no node, so nothing else happens) while a watcher records,
// every time the projection runner advances, the position it reached and
// when (Runner.WaitFor wakes it on each advance; the time is taken after
// reading the position, so it is never early). Afterwards the log is read
// back: an event's lag is the first time the runner's position reached it
// minus the time the store recorded it — so it covers the group commit's
// fsync, the subscription, decoding, the read model's Apply (a PostgreSQL
// transaction) and the observers. The run's length is fixed: use
// -benchtime 1x; ns/op means nothing and is reported as 0.
func BenchmarkProjectionLag(b *testing.B) {
	readSideBackends(b, benchProjectionLag)
}

func benchProjectionLag(b *testing.B, tweak ...func(*config.Config)) {
	a := startBenchApp(b, tweak...)
	runner := a.app.runner
	tokens := make([]string, lagWorkers)
	for i := range tokens {
		tokens[i] = a.token(fmt.Sprintf("lag-user-%d", i))
	}
	for i := range benchConns { // warm the connections
		if _, err := a.jobs(i).SubmitJob(as(tokens[i]), &pb.SubmitJobRequest{Config: benchJob("")}); err != nil {
			b.Fatal(err)
		}
	}
	if err := runner.WaitFor(context.Background(), storeHead(b, a.app.store)); err != nil {
		b.Fatal(err)
	}

	type seen struct {
		pos uint64
		at  time.Time
	}
	var obs []seen
	from := runner.Position()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		p := from
		for {
			if runner.WaitFor(watchCtx, p+1) != nil {
				return
			}
			p = runner.Position()
			obs = append(obs, seen{p, time.Now()})
		}
	}()

	b.ResetTimer()
	budget := make(chan struct{}, lagRate)
	start := time.Now()
	go func() { // the rate: tokens owed since start, every 5 ms
		defer close(budget)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		issued := 0
		for now := range t.C {
			el := now.Sub(start)
			if el >= lagDuration {
				return
			}
			for want := int(el.Seconds() * lagRate); issued < want; issued++ {
				budget <- struct{}{}
			}
		}
	}()
	var submit latencies
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for g := range lagWorkers {
		wg.Go(func() {
			client, ctx := a.jobs(g), as(tokens[g])
			var own []time.Duration
			for range budget {
				t0 := time.Now()
				_, err := client.SubmitJob(ctx, &pb.SubmitJobRequest{Config: benchJob("")})
				if err != nil {
					if failed.Add(1) == 1 {
						b.Errorf("SubmitJob: %v", err)
					}
					continue
				}
				own = append(own, time.Since(t0))
				sent.Add(1)
			}
			submit.add(own...)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	head := storeHead(b, a.app.store)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := runner.WaitFor(ctx, head)
	cancel()
	stopWatch()
	<-watched
	b.StopTimer()
	if err != nil {
		b.Fatalf("read model did not catch up: %v", err)
	}

	var lag latencies
	missing := 0
	for after := from; after < head; {
		recs, err := a.app.store.ReadAll(context.Background(), after, 8192)
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			after = r.Position
			i := sort.Search(len(obs), func(i int) bool { return obs[i].pos >= r.Position })
			if i == len(obs) {
				missing++
				continue
			}
			lag.add(obs[i].at.Sub(r.Recorded))
		}
	}
	if missing > 0 {
		b.Errorf("%d events were never seen applied", missing)
	}
	n := len(lag.d)
	st := runner.Stats()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(sent.Load())/elapsed.Seconds(), "cmds/s")
	b.ReportMetric(float64(n), "events")
	b.ReportMetric(lag.quantile(0.50), "lag-p50-ms")
	b.ReportMetric(lag.quantile(0.99), "lag-p99-ms")
	b.ReportMetric(lag.quantile(1), "lag-max-ms")
	b.ReportMetric(float64(st.MaxLag.Microseconds())/1000, "runner-maxlag-ms")
	b.ReportMetric(submit.quantile(0.99), "submit-p99-ms")
	if len(obs) > 0 {
		b.ReportMetric(float64(n)/float64(len(obs)), "events/advance")
	}
	b.Logf("%d commands in %s (%d failed), %d events, %d advances; submit p50 %.1f ms",
		sent.Load(), elapsed.Round(time.Millisecond), failed.Load(), n, len(obs), submit.quantile(0.5))
}

// REST list load: restJobs jobs seeded, every restCancelEvery-th one
// cancelled; restClients concurrent HTTP clients, restPage jobs a page.
const (
	restJobs        = 100_000
	restSeeders     = 64
	restCancelEvery = 10
	restClients     = 64
	restPage        = 50
)

// restSeedType is the type of the i-th seeded job: 80 % training, 15 %
// inference, 5 % evaluation, none of the other types.
func restSeedType(i int) pb.JobType {
	switch i % 20 {
	case 0:
		return pb.JobType_JOB_TYPE_EVALUATION
	case 1, 2, 3:
		return pb.JobType_JOB_TYPE_INFERENCE
	}
	return pb.JobType_JOB_TYPE_TRAINING
}

// listKind is one shape of GET /api/jobs.
type listKind struct {
	name  string
	query func(rng *mrand.Rand) url.Values // nil: follow the client's last next_cursor
	share int                              // weight in the mix
}

// listKinds are the request shapes: their shares make the mix (of the
// "first page" kind of an operator dashboard, filters, and paging on).
// type=preprocessing matches no job: the worst case of a filter without
// an index, measured alone and kept out of the mix.
func listKinds(from, head uint64) []listKind {
	v := func(kv ...string) url.Values {
		q := url.Values{"limit": {fmt.Sprint(restPage)}}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	fixed := func(kv ...string) func(*mrand.Rand) url.Values {
		return func(*mrand.Rand) url.Values { return v(kv...) }
	}
	return []listKind{
		{"first", fixed(), 30},
		{"status=pending", fixed("status", "pending"), 10},
		{"status=cancelled", fixed("status", "cancelled"), 10},
		{"status=pending,cancelled", fixed("status", "pending,cancelled"), 5},
		{"status=in_progress", fixed("status", "in_progress"), 5},
		{"owner", func(rng *mrand.Rand) url.Values {
			return v("owner", fmt.Sprintf("seed-user-%d", rng.IntN(restSeeders)))
		}, 10},
		{"type=evaluation", fixed("type", "evaluation"), 5},
		{"next_cursor", nil, 20},
		{"deep_cursor", func(rng *mrand.Rand) url.Values {
			q := v()
			q.Set("cursor", projections.EncodeJobToken(projections.JobFilter{}, from+1+rng.Uint64N(head-from)))
			return q
		}, 5},
		{"type=preprocessing", fixed("type", "preprocessing"), 0},
	}
}

// BenchmarkRESTListJobs: a real server is seeded with restJobs jobs
// (SubmitJob from restSeeders goroutines, no node, every 10th job
// cancelled, mixed types) and waits for the read model to catch up; then
// restClients HTTP clients with an operator token issue b.N GET
// /api/jobs?limit=50 between them: the "mix" sub-benchmark draws each
// request from listKinds by share ("mix-1client" the same from one client:
// the time of a request without queueing); the others repeat one kind.
// One op is one answered request.
func BenchmarkRESTListJobs(b *testing.B) {
	readSideBackends(b, benchRESTListJobs)
}

func benchRESTListJobs(b *testing.B, tweak ...func(*config.Config)) {
	a := startBenchApp(b, tweak...)
	from := a.app.runner.Position()
	seedJobs(b, a)
	head := storeHead(b, a.app.store)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	err := a.app.runner.WaitFor(ctx, head)
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	if a.app.pg != nil {
		// What autovacuum would do a little later; without fresh
		// statistics the plans are those of an empty table.
		if _, err := a.app.pg.Pool().Exec(context.Background(), "ANALYZE"); err != nil {
			b.Fatal(err)
		}
	}
	kinds := listKinds(from, head)
	if os.Getenv("CYXWIZ_BENCH_EXPLAIN") != "" && a.app.pg != nil {
		explainLists(b, a, kinds)
	}
	op, _, err := a.iss.MintUser("op", "", "operator", 2*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	base := "http://" + a.app.RESTAddr() + "/api/jobs?"
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: restClients, MaxIdleConnsPerHost: restClients}}
	b.Cleanup(client.CloseIdleConnections)

	b.Run("mix", func(b *testing.B) { listLoad(b, client, base, op, kinds, -1, restClients) })
	b.Run("mix-1client", func(b *testing.B) { listLoad(b, client, base, op, kinds, -1, 1) })
	for _, rate := range restRates {
		b.Run(fmt.Sprintf("mix-%drps", rate), func(b *testing.B) { listRate(b, client, base, op, kinds, rate) })
	}
	for k, kind := range kinds {
		if kind.query == nil {
			continue
		}
		b.Run(strings.ReplaceAll(kind.name, ",", "+"), func(b *testing.B) { listLoad(b, client, base, op, kinds, k, restClients) })
	}
}

// seedJobs submits restJobs jobs from restSeeders goroutines, each with
// its own owner, and cancels every restCancelEvery-th.
func seedJobs(b *testing.B, a *benchApp) {
	b.Helper()
	start := time.Now()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for g := range restSeeders {
		wg.Go(func() {
			client, ctx := a.jobs(g), as(a.token(fmt.Sprintf("seed-user-%d", g)))
			for {
				i := int(next.Add(1)) - 1
				if i >= restJobs {
					return
				}
				c := benchJob("")
				c.JobType = restSeedType(i)
				resp, err := client.SubmitJob(ctx, &pb.SubmitJobRequest{Config: c})
				if err == nil && i%restCancelEvery == restCancelEvery-1 {
					_, err = client.CancelJob(ctx, &pb.CancelJobRequest{JobId: resp.GetJobId(), Reason: "bench"})
				}
				if err != nil && failed.Add(1) == 1 {
					b.Errorf("seed: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	el := time.Since(start)
	b.Logf("seeded %d jobs (%d cancelled) in %s: %.0f jobs/s", restJobs, restJobs/restCancelEvery, el.Round(time.Millisecond), restJobs/el.Seconds())
}

// listLoad runs b.N requests from clients concurrent clients: only < 0
// draws each request from the mix, else it repeats kinds[only].
func listLoad(b *testing.B, client *http.Client, base, token string, kinds []listKind, only, clients int) {
	pick := func(rng *mrand.Rand) int {
		if only >= 0 {
			return only
		}
		total := 0
		for _, k := range kinds {
			total += k.share
		}
		n := rng.IntN(total)
		for i, k := range kinds {
			if n < k.share {
				return i
			}
			n -= k.share
		}
		return 0
	}
	var lat latencies
	byKind := make([]latencies, len(kinds))
	var next, failed, empty atomic.Int64
	b.ResetTimer()
	cpu0 := readCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(g), uint64(only+2)))
			var last url.Values // the query of the last page, its cursor set to next_cursor
			var own []time.Duration
			var buf bytes.Buffer
			for next.Add(1) <= int64(b.N) {
				k := pick(rng)
				var q url.Values
				if kinds[k].query == nil && last != nil {
					q, last = last, nil
				} else {
					if kinds[k].query == nil {
						k = 0 // nothing to follow yet: a first page
					}
					q = kinds[k].query(rng)
				}
				t0 := time.Now()
				page, err := getJobs(client, base+q.Encode(), token, &buf)
				d := time.Since(t0)
				if err != nil {
					if failed.Add(1) == 1 {
						b.Errorf("GET /api/jobs?%s: %v", q.Encode(), err)
					}
					continue
				}
				own = append(own, d)
				byKind[k].add(d)
				if page.Empty {
					empty.Add(1)
				}
				if page.NextCursor != "" {
					last = url.Values{}
					for key, vs := range q {
						last[key] = vs
					}
					last.Set("cursor", page.NextCursor)
				}
			}
			lat.add(own...)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := readCPU()
	b.StopTimer()
	reportRequests(b, &lat, elapsed)
	if cpu0.ok && cpu1.ok {
		b.ReportMetric((cpu1.proc-cpu0.proc).Seconds()*1000/float64(b.N), "proc-cpu-ms/op")
		b.ReportMetric((cpu1.host-cpu0.host).Seconds()*1000/float64(b.N), "host-cpu-ms/op")
	}
	if only < 0 && b.N >= 1000 {
		var parts []string
		for i, k := range kinds {
			if len(byKind[i].d) > 0 {
				parts = append(parts, fmt.Sprintf("%s n=%d p50=%.1f p99=%.1f", k.name, len(byKind[i].d), byKind[i].quantile(0.5), byKind[i].quantile(0.99)))
			}
		}
		b.Logf("N=%d, %d empty pages; by kind (ms): %s", b.N, empty.Load(), strings.Join(parts, "; "))
	}
}

// reportRequests reports a run of b.N requests: throughput and latency.
func reportRequests(b *testing.B, lat *latencies, elapsed time.Duration) {
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(lat.quantile(0.50), "p50-ms")
	b.ReportMetric(lat.quantile(0.99), "p99-ms")
	b.ReportMetric(lat.quantile(1), "max-ms")
}

// restRates are the offered loads (requests/s) of the open-loop runs.
var restRates = []int{100, 250, 500, 1000}

// listRate offers the mix at a fixed rate, whatever the answers' pace
// (open loop, as many users would): request i is due at start + i/rate
// and its latency is counted from then, so a slow answer delays nothing
// and queueing shows in the figures instead of lowering the load. At most
// 512 requests are in flight; b.N requests in all.
func listRate(b *testing.B, client *http.Client, base, token string, kinds []listKind, rate int) {
	total := 0
	for _, k := range kinds {
		if k.query != nil {
			total += k.share
		}
	}
	rng := mrand.New(mrand.NewPCG(uint64(rate), 7))
	queries := make([]url.Values, b.N)
	for i := range queries {
		n := rng.IntN(total)
		for _, k := range kinds {
			if k.query == nil {
				continue
			}
			if n < k.share {
				queries[i] = k.query(rng)
				break
			}
			n -= k.share
		}
	}
	var lat latencies
	var failed atomic.Int64
	sem := make(chan struct{}, 512)
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0 := readCPU()
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range b.N {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			buf := bufs.Get().(*bytes.Buffer)
			defer bufs.Put(buf)
			if _, err := getJobs(client, base+queries[i].Encode(), token, buf); err != nil {
				if failed.Add(1) == 1 {
					b.Errorf("GET /api/jobs?%s: %v", queries[i].Encode(), err)
				}
				return
			}
			lat.add(time.Since(due))
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := readCPU()
	b.StopTimer()
	reportRequests(b, &lat, elapsed)
	if cpu0.ok && cpu1.ok {
		b.ReportMetric((cpu1.host-cpu0.host).Seconds()/elapsed.Seconds()*100/float64(runtime.NumCPU()), "host-busy-%")
	}
}

// jobPage is what a client needs of a page: whether it is empty, and its
// next_cursor.
type jobPage struct {
	Empty      bool
	NextCursor string
}

var (
	pagePrefix  = []byte(`{"jobs":[`)
	emptyPrefix = []byte(`{"jobs":[]`)
	cursorKey   = []byte(`"next_cursor":"`)
)

// getJobs fetches a page into buf. It does not decode the page: the load
// generator shares the server's two vCPUs, and encoding/json would cost it
// more than the server spends answering. next_cursor, the last field of
// JobListJSON, is base64url: it needs no unescaping.
func getJobs(client *http.Client, u, token string, buf *bytes.Buffer) (jobPage, error) {
	var page jobPage
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return page, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return page, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return page, err
	}
	body := buf.Bytes()
	if resp.StatusCode != http.StatusOK {
		return page, fmt.Errorf("%s: %.512s", resp.Status, body)
	}
	if !bytes.HasPrefix(body, pagePrefix) {
		return page, fmt.Errorf("not a job list: %.100s", body)
	}
	page.Empty = bytes.HasPrefix(body, emptyPrefix)
	if i := bytes.LastIndex(body, cursorKey); i >= 0 {
		rest := body[i+len(cursorKey):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			page.NextCursor = string(rest[:j])
		}
	}
	return page, nil
}

// explainLists logs EXPLAIN ANALYZE of the list query each kind makes of
// PostgreSQL (adapters/postgres.Model.ListJobs: the same WHERE, ORDER BY
// and LIMIT, every column).
func explainLists(b *testing.B, a *benchApp, kinds []listKind) {
	rng := mrand.New(mrand.NewPCG(1, 1))
	for _, k := range kinds {
		if k.query == nil {
			continue
		}
		q := k.query(rng)
		conds, args := []string{"NOT deleted"}, []any{}
		arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
		if o := q.Get("owner"); o != "" {
			conds = append(conds, "owner = "+arg(o))
		}
		switch q.Get("type") {
		case "evaluation":
			conds = append(conds, "job_type = "+arg(int64(3))+"::int8")
		case "preprocessing":
			conds = append(conds, "job_type = "+arg(int64(4))+"::int8")
		}
		switch q.Get("status") {
		case "pending":
			conds = append(conds, "status = ANY("+arg([]int64{0})+"::int8[])")
		case "cancelled":
			conds = append(conds, "status = ANY("+arg([]int64{5})+"::int8[])")
		case "pending,cancelled":
			conds = append(conds, "status = ANY("+arg([]int64{0, 5})+"::int8[])")
		case "in_progress":
			conds = append(conds, "status = ANY("+arg([]int64{1, 2})+"::int8[])")
		}
		if c := q.Get("cursor"); c != "" {
			after, err := projections.DecodeJobToken(projections.JobFilter{PageToken: c})
			if err != nil {
				b.Fatal(err)
			}
			conds = append(conds, "submitted_position < "+arg(int64(after))+"::int8")
		}
		sql := "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM jobs WHERE " + strings.Join(conds, " AND ") +
			" ORDER BY submitted_position DESC LIMIT " + arg(restPage+1)
		rows, err := a.app.pg.Pool().Query(context.Background(), sql, args...)
		if err != nil {
			b.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				b.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		b.Logf("%s:\n%s\n%s", k.name, sql, strings.Join(plan, "\n"))
	}
}

// cpuTimes are CPU times consumed so far by this process (server and
// clients) and by the whole machine (it and PostgreSQL, and anything else
// running), from Linux's /proc; ok is false elsewhere.
type cpuTimes struct {
	proc, host time.Duration
	ok         bool
}

// clockTick is Linux's USER_HZ, the unit of /proc's CPU times.
const clockTick = 10 * time.Millisecond

func readCPU() cpuTimes {
	self, err1 := os.ReadFile("/proc/self/stat")
	all, err2 := os.ReadFile("/proc/stat")
	if err1 != nil || err2 != nil {
		return cpuTimes{}
	}
	var c cpuTimes
	// Fields after the command's closing parenthesis: state is field 3,
	// utime and stime fields 14 and 15.
	f := strings.Fields(string(self[strings.LastIndexByte(string(self), ')')+1:]))
	if len(f) < 13 {
		return cpuTimes{}
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	c.proc = time.Duration(ut+st) * clockTick
	// The first line: cpu user nice system idle iowait irq softirq steal.
	line, _, _ := strings.Cut(string(all), "\n")
	g := strings.Fields(line)
	if len(g) < 9 || g[0] != "cpu" {
		return cpuTimes{}
	}
	var busy int64
	for i, v := range g[1:9] {
		if i == 3 || i == 4 || i == 7 { // idle, iowait, steal
			continue
		}
		var n int64
		fmt.Sscan(v, &n)
		busy += n
	}
	c.host = time.Duration(busy) * clockTick
	c.ok = true
	return c
}
