package rest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/google/uuid"
)

func TestHealthIsOpenAndReportsComponents(t *testing.T) {
	x := newEnv(t)
	x.clock.Advance(90 * time.Second)
	a := x.do(http.MethodGet, "/api/health", "", nil)
	if a.status != http.StatusOK {
		t.Fatalf("health = %d %s", a.status, a.body)
	}
	var h rest.HealthJSON
	a.decode(t, &h)
	if h.Status != rest.StatusHealthy || h.Components["eventstore"] != rest.ComponentOK || h.UptimeSeconds != 90 || h.Version != "test" {
		t.Fatalf("health = %+v", h)
	}
	if got := a.header.Get("X-Request-ID"); len(got) != 36 {
		t.Fatalf("generated X-Request-ID = %q, want a UUID", got)
	}
	if got := x.do(http.MethodGet, "/api/health", "", map[string]string{"X-Request-ID": "req-42"}).header.Get("X-Request-ID"); got != "req-42" {
		t.Fatalf("X-Request-ID = %q, want the client's req-42 echoed", got)
	}
	long := strings.Repeat("x", 200)
	if got := x.do(http.MethodGet, "/api/health", "", map[string]string{"X-Request-ID": long}).header.Get("X-Request-ID"); got == long || got == "" {
		t.Fatalf("an oversized X-Request-ID was echoed (or none made up): %q", got)
	}

	tests := []struct {
		name       string
		comps      map[string]rest.Component
		wantStatus string
		wantCode   int
	}{
		{"embedded mode", map[string]rest.Component{"eventstore": {Status: "ok"}, "database": {Status: "memory"},
			"redis": {Status: "memory"}, "solana": {Status: "disabled"}}, rest.StatusHealthy, http.StatusOK},
		{"redis down", map[string]rest.Component{"eventstore": {Status: "ok"}, "database": {Status: "ok"},
			"redis": {Status: "down", Detail: "dial tcp: connection refused"}, "solana": {Status: "ok"}}, rest.StatusDegraded, http.StatusOK},
		{"database behind", map[string]rest.Component{"eventstore": {Status: "ok"}, "database": {Status: "degraded"}}, rest.StatusDegraded, http.StatusOK},
		{"eventstore down", map[string]rest.Component{"eventstore": {Status: "down"}, "database": {Status: "ok"}}, rest.StatusUnhealthy, http.StatusServiceUnavailable},
		{"database down", map[string]rest.Component{"eventstore": {Status: "ok"}, "database": {Status: "down"}}, rest.StatusUnhealthy, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newEnv(t, func(d *rest.Deps, _ *rest.Options) {
				d.Health = func(context.Context) map[string]rest.Component { return tt.comps }
			})
			a := x.do(http.MethodGet, "/api/health", "", nil)
			var h rest.HealthJSON
			a.decode(t, &h)
			if a.status != tt.wantCode || h.Status != tt.wantStatus || len(h.Components) != len(tt.comps) {
				t.Fatalf("health = %d %+v; want %d %s", a.status, h, tt.wantCode, tt.wantStatus)
			}
			for name, c := range tt.comps {
				if h.Components[name] != c.Status || h.Details[name] != c.Detail {
					t.Fatalf("component %s = %q (%q), want %q (%q)", name, h.Components[name], h.Details[name], c.Status, c.Detail)
				}
			}
		})
	}
}

// protected lists a request of every endpoint that needs an operator.
func protected() []string {
	id := uuid.NewString()
	return []string{"/api/stats", "/api/jobs", "/api/jobs/" + id, "/api/jobs/" + id + "/events", "/api/nodes",
		"/api/nodes/" + id, "/api/nodes/" + id + "/metrics", "/api/nodes/" + id + "/events", "/api/payments",
		"/api/activity", "/api/logs", "/api/config", "/api/events/stream"}
}

func TestAuthRefusals(t *testing.T) {
	x := newEnv(t)
	past := auth.NewIssuer(secret, func() time.Time { return x.clock.Now().Add(-3 * time.Hour) })
	expired, _, _ := past.MintUser("olivia", "", rest.RoleOperator, time.Hour)
	foreign, _, _ := auth.NewIssuer([]byte("another-secret-0123456789abcdef012345"), x.clock.Now).MintUser("olivia", "", rest.RoleOperator, time.Hour)
	node, _, _ := x.issuer.MintNodeSession(uuid.NewString(), "olivia", time.Hour)
	p2p, _, _ := x.issuer.MintP2P(uuid.NewString(), uuid.NewString(), "olivia", time.Hour)
	refusals := []struct {
		name, header string
		status       int
		code, says   string
	}{
		{"no token", "", http.StatusUnauthorized, rest.CodeUnauthenticated, "needs a token"},
		{"not a JWT", "Bearer not-a-jwt", http.StatusUnauthorized, rest.CodeUnauthenticated, "malformed"},
		{"wrong scheme", "Basic b2xpdmlhOnB3", http.StatusUnauthorized, rest.CodeUnauthenticated, "Bearer"},
		{"expired", "Bearer " + expired, http.StatusUnauthorized, rest.CodeUnauthenticated, "expired"},
		{"other secret", "Bearer " + foreign, http.StatusUnauthorized, rest.CodeUnauthenticated, "signature"},
		{"p2p token", "Bearer " + p2p, http.StatusUnauthorized, rest.CodeUnauthenticated, "peer-to-peer"},
		{"plain user, no role", "Bearer " + x.mint("ursula", ""), http.StatusForbidden, rest.CodePermissionDenied, "operator or admin"},
		{"role user", "Bearer " + x.mint("ursula", "user"), http.StatusForbidden, rest.CodePermissionDenied, `role "user"`},
		{"role Operator (case)", "Bearer " + x.mint("ursula", "Operator"), http.StatusForbidden, rest.CodePermissionDenied, "operator or admin"},
		{"node session", "Bearer " + node, http.StatusForbidden, rest.CodePermissionDenied, "node session"},
	}
	for _, path := range protected() {
		for _, r := range refusals {
			h := map[string]string{}
			if r.header != "" {
				h["Authorization"] = r.header
			}
			a := x.do(http.MethodGet, path, "", h)
			if a.status != r.status {
				t.Fatalf("%s with %s = %d %s; want %d", path, r.name, a.status, a.body, r.status)
			}
			e := a.err(t)
			if e.Error.Code != r.code || !strings.Contains(e.Error.Message, r.says) || e.Error.RequestID == "" {
				t.Fatalf("%s with %s: error %+v; want code %s saying %q", path, r.name, e.Error, r.code, r.says)
			}
			if r.name == "no token" && !strings.Contains(string(a.body), "Authorization: Bearer <JWT>") {
				t.Fatalf("%s: message not written plainly: %s", path, a.body)
			}
			if r.status == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%s with %s: 401 without WWW-Authenticate", path, r.name)
			}
		}
	}
	// Operators and admins get in; the endpoints of a missing job or node
	// then answer 404 (or, for the stream, 200).
	for _, role := range []string{rest.RoleOperator, rest.RoleAdmin} {
		tok := x.mint("root", role)
		for _, path := range protected() {
			if path == "/api/events/stream" {
				continue // TestEventStream
			}
			a := x.do(http.MethodGet, path, tok, nil)
			if a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
				t.Fatalf("%s with role %s = %d %s", path, role, a.status, a.body)
			}
		}
	}
	// The open endpoints need no token.
	for _, path := range []string{"/api/health", "/api/openapi.json", "/metrics"} {
		if a := x.do(http.MethodGet, path, "", nil); a.status != http.StatusOK {
			t.Fatalf("%s without a token = %d %s", path, a.status, a.body)
		}
	}
}

// jobsFixture is a small network with a job in each state.
type jobsFixture struct {
	node                                                       string
	pending1, pending2, running, assigned, done, failed, cancl string
	deleted                                                    string
}

func buildJobs(x *env) jobsFixture {
	x.t.Helper()
	var f jobsFixture
	f.node = x.registerNode(nodeSpec("alpha", "eu-west", 1, domain.DeviceCUDA), true)
	f.pending1 = x.submit("alice", domain.JobTypeTraining)
	f.pending2 = x.submit("bob", domain.JobTypeInference)
	f.running = x.submit("alice", domain.JobTypeTraining)
	x.run(f.running, f.node)
	f.assigned = x.submit("alice", domain.JobTypeEvaluation)
	x.must(x.h.AssignJob(x.ctx, f.assigned, f.node, 150))
	f.done = x.submit("bob", domain.JobTypeTraining)
	x.complete(f.done, f.node)
	f.failed = x.submit("bob", domain.JobTypePreprocessing)
	x.run(f.failed, f.node)
	x.must(x.h.FailJob(x.ctx, f.failed, f.node, "out of memory"))
	f.cancl = x.submit("alice", domain.JobTypeInference)
	x.must(x.h.CancelJob(x.ctx, f.cancl, "alice", "changed my mind"))
	f.deleted = x.submit("alice", domain.JobTypeTraining)
	x.must(x.h.CancelJob(x.ctx, f.deleted, "alice", ""))
	x.must(x.h.DeleteJob(x.ctx, f.deleted, "alice"))
	x.awaitReadModel()
	return f
}

func ids(jobs []rest.JobJSON) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func TestJobs(t *testing.T) {
	x := newEnv(t)
	f := buildJobs(x)

	var all rest.JobListJSON
	x.get("/api/jobs", http.StatusOK, &all)
	want := []string{f.cancl, f.failed, f.done, f.assigned, f.running, f.pending2, f.pending1} // newest first, deleted hidden
	if !slices.Equal(ids(all.Jobs), want) || all.Total != len(want) || all.NextCursor != "" {
		t.Fatalf("all jobs = %v (total %d, next %q); want %v", ids(all.Jobs), all.Total, all.NextCursor, want)
	}

	filters := []struct {
		query string
		want  []string
	}{
		{q("status", "pending"), []string{f.pending2, f.pending1}},
		{q("status", "running,failed"), []string{f.failed, f.running}},
		{q("status", "in_progress"), []string{f.assigned, f.running}},
		{q("status", "assigned,in_progress"), []string{f.assigned, f.running}},
		{q("status", "completed"), []string{f.done}},
		{q("status", "cancelled"), []string{f.cancl}},
		{q("type", "inference"), []string{f.cancl, f.pending2}},
		{q("type", "preprocessing"), []string{f.failed}},
		{q("owner", "alice"), []string{f.cancl, f.assigned, f.running, f.pending1}},
		{q("owner", "bob", "status", "pending"), []string{f.pending2}},
		{q("status", "pending", "type", "training"), []string{f.pending1}},
		{q("owner", "nobody"), []string{}},
	}
	for _, tt := range filters {
		var got rest.JobListJSON
		x.get("/api/jobs"+tt.query, http.StatusOK, &got)
		if !slices.Equal(ids(got.Jobs), tt.want) || got.Total != len(tt.want) {
			t.Errorf("jobs%s = %v (total %d); want %v", tt.query, ids(got.Jobs), got.Total, tt.want)
		}
	}

	var done rest.JobJSON
	a := x.get("/api/jobs/"+f.done, http.StatusOK, &done)
	if done.ID != f.done || done.Status != "completed" || done.Type != "training" || done.Owner != "bob" || done.NodeID != f.node ||
		done.Progress != 1 || done.Result == nil || done.Result.ComputeTimeMs != 90_000 || done.Result.FinalMetrics["accuracy"] != 0.91 ||
		done.StartedAt == nil || done.EndedAt == nil || done.EndedAt.Sub(*done.StartedAt) != 90*time.Second ||
		done.Spec.ModelDefinition != "resnet18" || done.Spec.Hyperparameters["lr"] != "0.001" || done.Spec.RequiredDevice != "any" ||
		done.Attempts != 1 || done.Priority != "normal" || done.LastLog != "epoch 1" {
		t.Fatalf("completed job = %s", a.body)
	}
	// snake_case keys on the wire; no internal field names.
	var raw map[string]any
	a.decode(t, &raw)
	for _, k := range []string{"id", "node_id", "submitted_at", "started_at", "ended_at", "spec", "result"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("job JSON lacks %q: %s", k, a.body)
		}
	}
	if strings.Contains(string(a.body), "SubmittedPosition") || strings.Contains(string(a.body), "\"Spec\"") {
		t.Errorf("job JSON exposes internal field names: %s", a.body)
	}
	var failed rest.JobJSON
	x.get("/api/jobs/"+f.failed, http.StatusOK, &failed)
	if failed.Status != "failed" || failed.Reason != "out of memory" {
		t.Fatalf("failed job = %+v", failed)
	}

	for _, id := range []string{f.deleted, uuid.NewString()} {
		e := x.get("/api/jobs/"+id, http.StatusNotFound, nil).err(t)
		if e.Error.Code != rest.CodeNotFound || !strings.Contains(e.Error.Message, id) {
			t.Fatalf("missing job %s: %+v", id, e.Error)
		}
	}
	x.badRequest("/api/jobs/not-a-uuid", "id")
	x.badRequest("/api/jobs/"+strings.ToUpper(f.done)+"x", "id")
}

func TestJobsPagination(t *testing.T) {
	x := newEnv(t)
	var submitted []string
	for i := range 23 {
		typ := domain.JobTypeTraining
		if i%3 == 0 {
			typ = domain.JobTypeInference
		}
		submitted = append(submitted, x.submit("alice", typ))
	}
	x.awaitReadModel()
	slices.Reverse(submitted)

	walk := func(query string) []string {
		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatal("pagination does not end")
			}
			path := "/api/jobs?limit=5" + query
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			var page rest.JobListJSON
			x.get(path, http.StatusOK, &page)
			if len(page.Jobs) > 5 {
				t.Fatalf("page of %d jobs with limit=5", len(page.Jobs))
			}
			seen = append(seen, ids(page.Jobs)...)
			if page.NextCursor == "" {
				return seen
			}
			cursor = page.NextCursor
		}
	}
	if got := walk(""); !slices.Equal(got, submitted) {
		t.Fatalf("paged jobs = %v\nwant %v", got, submitted)
	}
	var inference []string
	for i, id := range submitted {
		if (22-i)%3 == 0 {
			inference = append(inference, id)
		}
	}
	if got := walk("&type=inference"); !slices.Equal(got, inference) {
		t.Fatalf("paged inference jobs = %v\nwant %v", got, inference)
	}

	var first rest.JobListJSON
	x.get("/api/jobs?limit=5", http.StatusOK, &first)
	if first.Total != 23 || first.NextCursor == "" {
		t.Fatalf("first page: total %d next %q", first.Total, first.NextCursor)
	}
	// A cursor is only good for the list and filters it came from.
	x.badRequest("/api/jobs?limit=5&type=inference&cursor="+first.NextCursor, "cursor")
	x.badRequest("/api/jobs?cursor=bm90LWEtY3Vyc29y", "cursor")
	x.badRequest("/api/jobs?cursor=", "cursor")
	x.badRequest("/api/nodes?cursor="+first.NextCursor, "cursor")
	x.badRequest("/api/jobs/"+submitted[0]+"/events?cursor="+first.NextCursor, "cursor")
}

func TestBadParametersNameTheParameter(t *testing.T) {
	x := newEnv(t)
	node := x.registerNode(nodeSpec("alpha", "eu-west", 1, domain.DeviceCUDA), true)
	x.awaitReadModel()
	cases := []struct{ path, param string }{
		{"/api/jobs?limit=0", "limit"},
		{"/api/jobs?limit=1001", "limit"},
		{"/api/jobs?limit=ten", "limit"},
		{"/api/jobs?limit=-1", "limit"},
		{"/api/jobs?limit=", "limit"},
		{"/api/jobs?status=done", "status"},
		{"/api/jobs?status=running,", "status"},
		{"/api/jobs?status=RUNNING", "status"},
		{"/api/jobs?type=fine-tuning", "type"},
		{"/api/jobs?owner=", "owner"},
		{"/api/jobs?owner=" + strings.Repeat("a", 200), "owner"},
		{"/api/jobs?owner=a%00b", "owner"},
		{"/api/jobs?stauts=running", "stauts"},
		{"/api/jobs?status=running&status=failed", "status"},
		{"/api/nodes?online=yes", "online"},
		{"/api/nodes?device=gpu", "device"},
		{"/api/nodes?sort=fastest", "sort"},
		{"/api/nodes?order=up", "order"},
		{"/api/nodes?min_price=-1", "min_price"},
		{"/api/nodes?max_price=NaN", "max_price"},
		{"/api/nodes?min_price=3&max_price=2", "min_price"},
		{"/api/nodes?limit=5000", "limit"},
		{"/api/nodes?region=", "region"},
		{"/api/nodes/" + node + "/metrics?from=yesterday", "from"},
		{"/api/nodes/" + node + "/metrics?to=2026-13-01T00:00:00Z", "to"},
		{"/api/nodes/" + node + "/metrics?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "from"},
		{"/api/nodes/" + node + "/metrics?cursor=abc", "cursor"},
		{"/api/nodes/12345/metrics", "id"},
		{"/api/nodes/" + node + "/events?limit=0", "limit"},
		{"/api/stats?verbose=1", "verbose"},
		{"/api/payments?status=paid", "status"},
		{"/api/payments?cursor=zzz", "cursor"},
		{"/api/activity?limit=0", "limit"},
		{"/api/logs?level=verbose", "level"},
		{"/api/logs?level=INFO", "level"},
		{"/api/logs?level=", "level"},
		{"/api/logs?after=-1", "after"},
		{"/api/logs?after=last", "after"},
		{"/api/logs?after=", "after"},
		{"/api/logs?limit=0", "limit"},
		{"/api/logs?limit=1001", "limit"},
		{"/api/logs?since=1", "since"},
		{"/api/logs?level=info&level=warn", "level"},
		{"/api/config?section=jwt", "section"},
		{"/api/events/stream?after=-1", "after"},
		{"/api/events/stream?after=next", "after"},
		{"/api/events/stream?from=1", "from"},
	}
	for _, c := range cases {
		e := x.badRequest(c.path, c.param)
		if e.Error.RequestID == "" {
			t.Errorf("%s: no request_id in %+v", c.path, e.Error)
		}
	}
	// The stream's Last-Event-ID header too.
	a := x.do(http.MethodGet, "/api/events/stream", x.token, map[string]string{"Last-Event-ID": "abc"})
	if e := a.err(t); a.status != http.StatusBadRequest || e.Error.Param != "Last-Event-ID" {
		t.Fatalf("bad Last-Event-ID = %d %+v", a.status, e.Error)
	}
	// Unknown routes and methods answer in the same error format.
	if a := x.do(http.MethodGet, "/api/nope", x.token, nil); a.status != http.StatusNotFound || a.err(t).Error.Code != rest.CodeNotFound {
		t.Fatalf("GET /api/nope = %d %s", a.status, a.body)
	}
	if a := x.do(http.MethodGet, "/api/nodes/"+node+"/extra", x.token, nil); a.status != http.StatusNotFound {
		t.Fatalf("GET /api/nodes/ID/extra = %d %s", a.status, a.body)
	}
	if a := x.do(http.MethodDelete, "/api/jobs", x.token, nil); a.status != http.StatusMethodNotAllowed || a.err(t).Error.Code != rest.CodeMethodNotAllowed {
		t.Fatalf("DELETE /api/jobs = %d %s", a.status, a.body)
	}
}

func TestInjectionLookingValuesAreHarmless(t *testing.T) {
	x := newEnv(t)
	f := buildJobs(x)
	x.registerNode(nodeSpec("beta", "us-east", 2, domain.DeviceMetal), true)
	x.awaitReadModel()
	var jobsBefore rest.JobListJSON
	x.get("/api/jobs", http.StatusOK, &jobsBefore)
	var nodesBefore rest.NodeListJSON
	x.get("/api/nodes", http.StatusOK, &nodesBefore)

	for _, c := range []struct{ path, param string }{
		{"/api/jobs" + q("status", "running';DROP TABLE jobs;--"), "status"},
		{"/api/jobs" + q("type", "training' OR '1'='1"), "type"},
		{"/api/jobs" + q("limit", "10; DELETE FROM jobs"), "limit"},
		{"/api/jobs" + q("cursor", "' OR 1=1 --"), "cursor"},
		{"/api/nodes" + q("sort", "price; DROP TABLE nodes"), "sort"},
		{"/api/nodes" + q("device", "cuda' --"), "device"},
		{"/api/nodes" + q("online", "true OR 1=1"), "online"},
		{"/api/jobs/" + "1%27%20OR%20%271%27%3D%271", "id"},
		{"/api/jobs/" + f.done + "%27--/events", "id"},
		{"/api/events/stream" + q("after", "0;DROP TABLE events"), "after"},
		{"/api/payments" + q("status", "released' OR ''='"), "status"},
	} {
		x.badRequest(c.path, c.param)
	}
	// The same, unescaped as a person or a script would type them: a raw
	// ';' would make Go's parser drop the pair and select everything.
	for _, c := range []struct{ rawQuery, param string }{
		{"status=running';DROP%20TABLE%20jobs;--", "status"},
		{"owner=alice';DELETE%20FROM%20jobs", "owner"},
		{"limit=5;SELECT", "limit"},
		{"type=training%'", "type"},
		{"status=running&x=1;y=2", "x"},
	} {
		x.badRequest("/api/jobs?"+c.rawQuery, c.param)
	}
	x.badRequest("/api/nodes?region=eu';DROP%20TABLE%20nodes;--", "region")
	// Free-text filters are compared as values: they match nothing.
	var none rest.JobListJSON
	x.get("/api/jobs"+q("owner", "alice' OR '1'='1"), http.StatusOK, &none)
	if len(none.Jobs) != 0 || none.Total != 0 {
		t.Fatalf("owner injection matched %v", ids(none.Jobs))
	}
	var noNodes rest.NodeListJSON
	x.get("/api/nodes"+q("region", "eu-west'; DROP TABLE nodes;--"), http.StatusOK, &noNodes)
	if len(noNodes.Nodes) != 0 || noNodes.Total != 0 {
		t.Fatalf("region injection matched %d nodes", len(noNodes.Nodes))
	}
	// Nothing changed.
	var jobsAfter rest.JobListJSON
	x.get("/api/jobs", http.StatusOK, &jobsAfter)
	var nodesAfter rest.NodeListJSON
	x.get("/api/nodes", http.StatusOK, &nodesAfter)
	if !slices.Equal(ids(jobsAfter.Jobs), ids(jobsBefore.Jobs)) || len(nodesAfter.Nodes) != len(nodesBefore.Nodes) || len(nodesAfter.Nodes) != 2 {
		t.Fatalf("lists changed: jobs %v → %v, nodes %d → %d", ids(jobsBefore.Jobs), ids(jobsAfter.Jobs), len(nodesBefore.Nodes), len(nodesAfter.Nodes))
	}
}

func nodeIDs(nodes []rest.NodeJSON) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

func TestNodes(t *testing.T) {
	x := newEnv(t)
	alpha := x.registerNode(nodeSpec("alpha", "eu-west", 1, domain.DeviceCUDA), true)
	beta := x.registerNode(nodeSpec("beta", "us-east", 2, domain.DeviceMetal), true)
	gamma := x.registerNode(nodeSpec("gamma", "EU-West", 3, domain.DeviceCUDA), false)
	delta := x.registerNode(nodeSpec("delta", "ap-south", 0.5, domain.DeviceCPU), true)
	x.clock.Advance(time.Minute)
	x.must(x.h.MarkNodeOffline(x.ctx, delta, "missed heartbeats"))
	if _, err := x.h.AdjustReputation(x.ctx, beta, 0.2, "good work", ""); err != nil {
		t.Fatal(err)
	}
	job := x.submit("alice", domain.JobTypeTraining)
	x.run(job, alpha)
	x.awaitReadModel()

	var all rest.NodeListJSON
	x.get("/api/nodes", http.StatusOK, &all)
	if want := []string{delta, alpha, beta, gamma}; !slices.Equal(nodeIDs(all.Nodes), want) || all.Total != 4 || all.Online != 2 {
		t.Fatalf("nodes = %v (total %d, online %d); want cheapest first %v", nodeIDs(all.Nodes), all.Total, all.Online, want)
	}
	if all.NetworkAvgPrice != 1.5 || all.NetworkTotalCompute != 30 {
		t.Fatalf("network avg price %v total compute %v; want 1.5 and 30", all.NetworkAvgPrice, all.NetworkTotalCompute)
	}
	filters := []struct {
		query string
		want  []string
	}{
		{q("online", "true"), []string{alpha, beta}},
		{q("online", "false"), []string{delta, gamma}},
		{q("device", "cuda"), []string{alpha, gamma}},
		{q("device", "cpu"), []string{delta, alpha, beta, gamma}}, // every node has CPU cores
		{q("device", "metal", "online", "true"), []string{beta}},
		{q("region", "eu-west"), []string{alpha, gamma}},
		{q("region", "EU-WEST", "online", "false"), []string{gamma}},
		{q("min_price", "1", "max_price", "2"), []string{alpha, beta}},
		{q("order", "desc"), []string{gamma, beta, alpha, delta}},
		{q("sort", "performance"), []string{gamma, beta, alpha, delta}},
		{q("sort", "reputation", "online", "true"), []string{beta, alpha}},
		{q("sort", "availability"), []string{beta, alpha, delta, gamma}},
		{q("sort", "price", "order", "asc", "online", "false"), []string{delta, gamma}},
	}
	for _, tt := range filters {
		var got rest.NodeListJSON
		x.get("/api/nodes"+tt.query, http.StatusOK, &got)
		if !slices.Equal(nodeIDs(got.Nodes), tt.want) || got.Total != len(tt.want) {
			t.Errorf("nodes%s = %v (total %d); want %v", tt.query, nodeIDs(got.Nodes), got.Total, tt.want)
		}
	}

	var n rest.NodeJSON
	a := x.get("/api/nodes/"+alpha, http.StatusOK, &n)
	if n.ID != alpha || n.Name != "alpha" || !n.Online || n.Region != "eu-west" || len(n.Devices) != 1 || n.Devices[0].Type != "cuda" ||
		n.Devices[0].VRAMTotalBytes != 24<<30 || n.Pricing.BillingModel != "hourly" || n.Pricing.PricePerHour != 1 ||
		n.ActiveJobs != 1 || !slices.Equal(n.ActiveJobIDs, []string{job}) || n.FreeSlots != 4 || n.RegisteredAt == nil ||
		n.Owner != "op-alpha" || n.CPUCores != 8 || n.UptimePercent <= 0 {
		t.Fatalf("node = %s", a.body)
	}
	var d rest.NodeJSON
	x.get("/api/nodes/"+delta, http.StatusOK, &d)
	if d.Online || d.WentOfflineAt == nil || d.FreeSlots != 0 {
		t.Fatalf("offline node = %+v", d)
	}
	x.get("/api/nodes/"+uuid.NewString(), http.StatusNotFound, nil)
	x.badRequest("/api/nodes/alpha", "id")
}

func TestOfflineNodesPage(t *testing.T) {
	x := newEnv(t)
	var offline []string
	for i := range 12 {
		online := i%5 == 0 // 3 online, 9 offline
		id := x.registerNode(nodeSpec("n"+string(rune('a'+i)), "eu", float64(1+i), domain.DeviceCUDA), online)
		if !online {
			offline = append(offline, id)
		}
	}
	x.awaitReadModel()
	for _, order := range []string{"asc", "desc"} {
		want := slices.Clone(offline)
		if order == "desc" {
			slices.Reverse(want)
		}
		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			path := "/api/nodes?online=false&limit=4&order=" + order
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			var page rest.NodeListJSON
			x.get(path, http.StatusOK, &page)
			if page.Total != 9 || page.Online != 0 || len(page.Nodes) > 4 {
				t.Fatalf("%s: total %d online %d, %d nodes", path, page.Total, page.Online, len(page.Nodes))
			}
			seen = append(seen, nodeIDs(page.Nodes)...)
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if !slices.Equal(seen, want) {
			t.Fatalf("offline nodes (%s) paged = %v\nwant %v", order, seen, want)
		}
	}
	// Cursors of the offline list and of the others are not interchangeable.
	var online, off rest.NodeListJSON
	x.get("/api/nodes?limit=2", http.StatusOK, &online)
	x.get("/api/nodes?online=false&limit=2", http.StatusOK, &off)
	x.badRequest("/api/nodes?online=false&cursor="+online.NextCursor, "cursor")
	x.badRequest("/api/nodes?cursor="+off.NextCursor, "cursor")
}

func TestNodeMetrics(t *testing.T) {
	x := newEnv(t)
	node := x.registerNode(nodeSpec("alpha", "eu-west", 1, domain.DeviceCUDA), true)
	var times []time.Time
	for i := range 5 {
		x.clock.Advance(time.Minute)
		times = append(times, x.clock.Now())
		if err := x.h.SampleNodeMetrics(x.ctx, node, domain.MetricSample{CPUUsage: float64(i) / 10, GPUUsage: 0.5, ActiveJobs: i}); err != nil {
			t.Fatal(err)
		}
	}
	x.awaitReadModel()
	var all rest.MetricListJSON
	x.get("/api/nodes/"+node+"/metrics", http.StatusOK, &all)
	if all.NodeID != node || len(all.Metrics) != 5 || all.NextCursor != "" {
		t.Fatalf("metrics = %+v", all)
	}
	for i, m := range all.Metrics {
		if m.At != times[i].UTC().Format(time.RFC3339Nano) || m.ActiveJobs != i || m.GPUUsage != 0.5 {
			t.Fatalf("sample %d = %+v, want at %s", i, m, times[i])
		}
	}
	var n rest.NodeJSON
	x.get("/api/nodes/"+node, http.StatusOK, &n)
	if n.LastMetrics == nil || n.LastMetrics.ActiveJobs != 4 {
		t.Fatalf("last metrics = %+v", n.LastMetrics)
	}
	var window rest.MetricListJSON
	x.get("/api/nodes/"+node+"/metrics"+q("from", times[1].Format(time.RFC3339Nano), "to", times[3].Format(time.RFC3339Nano)), http.StatusOK, &window)
	if len(window.Metrics) != 3 || window.Metrics[0].ActiveJobs != 1 || window.Metrics[2].ActiveJobs != 3 {
		t.Fatalf("window = %+v", window.Metrics)
	}
	var seen []int
	cursor := ""
	for range 5 {
		path := "/api/nodes/" + node + "/metrics?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page rest.MetricListJSON
		x.get(path, http.StatusOK, &page)
		for _, m := range page.Metrics {
			seen = append(seen, m.ActiveJobs)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(seen, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("paged samples = %v", seen)
	}
	x.get("/api/nodes/"+uuid.NewString()+"/metrics", http.StatusNotFound, nil)
}

func TestEventHistories(t *testing.T) {
	x := newEnv(t)
	node := x.registerNode(nodeSpec("alpha", "eu-west", 1, domain.DeviceCUDA), true)
	ctx := commands.WithMetadata(x.ctx, eventstore.Metadata{CorrelationID: "req-7", Actor: "user:alice"})
	j, _, _, err := x.h.SubmitJob(ctx, commands.SubmitJob{Owner: "alice", Spec: jobSpec(domain.JobTypeTraining)})
	if err != nil {
		t.Fatal(err)
	}
	job := j.ID()
	x.complete(job, node)
	x.must(x.h.DeleteJob(x.ctx, job, "alice"))
	x.awaitReadModel()

	var h rest.EventListJSON
	x.get("/api/jobs/"+job+"/events", http.StatusOK, &h)
	want := []string{"JobSubmitted", "JobAssigned", "JobAccepted", "JobStarted", "JobProgressed", "JobCompleted", "JobDeleted"}
	var names []string
	for i, e := range h.Events {
		names = append(names, e.Event)
		if e.Revision != uint64(i) || e.Stream != "job-"+job || (i > 0 && e.Position <= h.Events[i-1].Position) || e.ID == "" || e.DecodeError != "" {
			t.Fatalf("event %d = %+v", i, e)
		}
		var p struct {
			JobID string `json:"job_id"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil || p.JobID != job {
			t.Fatalf("event %d payload %s: job_id %q, err %v", i, e.Payload, p.JobID, err)
		}
	}
	if !slices.Equal(names, want) || h.NextCursor != "" {
		t.Fatalf("history = %v (next %q); want %v", names, h.NextCursor, want)
	}
	if first := h.Events[0]; first.Actor != "user:alice" || first.CorrelationID != "req-7" || first.Summary != "job submitted" {
		t.Fatalf("first event = %+v", first)
	}
	if !strings.Contains(string(h.Events[0].Payload), `"model_definition":"resnet18"`) {
		t.Fatalf("JobSubmitted payload = %s", h.Events[0].Payload)
	}
	// Pages of 3.
	var paged []string
	cursor := ""
	for range 5 {
		path := "/api/jobs/" + job + "/events?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page rest.EventListJSON
		x.get(path, http.StatusOK, &page)
		for _, e := range page.Events {
			paged = append(paged, e.Event)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged history = %v", paged)
	}

	var nh rest.EventListJSON
	x.get("/api/nodes/"+node+"/events", http.StatusOK, &nh)
	if len(nh.Events) < 3 || nh.Events[0].Event != "NodeRegistered" || nh.Events[1].Event != "NodeWentOnline" {
		t.Fatalf("node history = %+v", nh.Events)
	}
	x.get("/api/jobs/"+uuid.NewString()+"/events", http.StatusNotFound, nil)
	x.get("/api/nodes/"+uuid.NewString()+"/events", http.StatusNotFound, nil)
}

func TestPanicAnswers500AndServerLivesOn(t *testing.T) {
	x := newEnv(t, func(d *rest.Deps, _ *rest.Options) { d.Jobs = panicky{d.Jobs} })
	a := x.do(http.MethodGet, "/api/jobs", x.token, map[string]string{"X-Request-ID": "boom-1"})
	if a.status != http.StatusInternalServerError {
		t.Fatalf("panicking handler = %d %s", a.status, a.body)
	}
	if e := a.err(t); e.Error.Code != rest.CodeInternal || e.Error.RequestID != "boom-1" || strings.Contains(e.Error.Message, "kaboom") {
		t.Fatalf("panic answer = %+v", e.Error)
	}
	x.get("/api/nodes", http.StatusOK, nil)
}

type panicky struct{ projections.JobQueries }

func (panicky) ListJobs(context.Context, projections.JobFilter) ([]projections.JobView, string, int, error) {
	panic("kaboom")
}

func TestCORS(t *testing.T) {
	preflight := map[string]string{"Origin": "https://console.example.com", "Access-Control-Request-Method": "GET",
		"Access-Control-Request-Headers": "authorization"}
	x := newEnv(t, func(_ *rest.Deps, o *rest.Options) { o.CORSOrigins = []string{"https://console.example.com"} })
	a := x.do(http.MethodOptions, "/api/jobs", "", preflight)
	if a.status != http.StatusNoContent || a.header.Get("Access-Control-Allow-Origin") != "https://console.example.com" ||
		!strings.Contains(strings.ToLower(a.header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight from an allowed origin = %d %v", a.status, a.header)
	}
	a = x.do(http.MethodGet, "/api/jobs", x.token, map[string]string{"Origin": "https://console.example.com"})
	if a.status != http.StatusOK || a.header.Get("Access-Control-Allow-Origin") != "https://console.example.com" ||
		!strings.Contains(a.header.Get("Access-Control-Expose-Headers"), "X-Request-Id") && !strings.Contains(a.header.Get("Access-Control-Expose-Headers"), "X-Request-ID") {
		t.Fatalf("GET from an allowed origin = %d %v", a.status, a.header)
	}
	a = x.do(http.MethodGet, "/api/jobs", x.token, map[string]string{"Origin": "https://evil.example.com"})
	if got := a.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("another origin got Access-Control-Allow-Origin %q", got)
	}
	// No origins configured: same-origin only, no CORS headers at all.
	y := newEnv(t)
	a = y.do(http.MethodGet, "/api/jobs", y.token, map[string]string{"Origin": "https://console.example.com"})
	if got := a.header.Get("Access-Control-Allow-Origin"); a.status != http.StatusOK || got != "" {
		t.Fatalf("without cors_origins: %d, Access-Control-Allow-Origin %q", a.status, got)
	}
	if a := y.do(http.MethodOptions, "/api/jobs", "", preflight); a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("without cors_origins, preflight allowed: %v", a.header)
	}
}

func TestOpenAPIServed(t *testing.T) {
	x := newEnv(t)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	x.do(http.MethodGet, "/api/openapi.json", "", nil).decode(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths["/api/jobs/{id}/events"]["get"] == nil || doc.Paths["/metrics"]["get"] == nil {
		t.Fatalf("served document: openapi %q, %d paths", doc.OpenAPI, len(doc.Paths))
	}
	// Without metrics, /metrics is neither routed nor documented.
	y := newEnv(t, func(_ *rest.Deps, o *rest.Options) { o.Metrics = nil })
	doc.Paths = nil
	y.do(http.MethodGet, "/api/openapi.json", "", nil).decode(t, &doc)
	ops := 0
	for _, item := range doc.Paths {
		ops += len(item)
	}
	if _, ok := doc.Paths["/metrics"]; ok || ops != len(y.srv.Routes()) {
		t.Fatalf("document without metrics has %d operations for %d routes", ops, len(y.srv.Routes()))
	}
	if a := y.do(http.MethodGet, "/metrics", "", nil); a.status != http.StatusNotFound {
		t.Fatalf("/metrics without metrics = %d", a.status)
	}
}

func TestHealthWithTheStoreClosed(t *testing.T) {
	x := newEnv(t)
	_ = x.store.Close()
	a := x.do(http.MethodGet, "/api/health", "", nil)
	var h rest.HealthJSON
	a.decode(t, &h)
	if a.status != http.StatusServiceUnavailable || h.Status != rest.StatusUnhealthy || h.Components["eventstore"] != rest.ComponentDown ||
		h.Details["eventstore"] == "" {
		t.Fatalf("health with the store closed = %d %s", a.status, a.body)
	}
	// Reads that need the store now answer 503, not 500.
	if a := x.do(http.MethodGet, "/api/jobs/"+uuid.NewString()+"/events", x.token, nil); a.status != http.StatusServiceUnavailable {
		t.Fatalf("history with the store closed = %d %s", a.status, a.body)
	}
	if a := x.do(http.MethodGet, "/api/events/stream", x.token, nil); a.status != http.StatusServiceUnavailable {
		t.Fatalf("stream with the store closed = %d %s", a.status, a.body)
	}
}

// TestJobsRetained: with a read model that keeps few finished jobs, the
// list says how far back it reaches, and a job let go of is still found
// by id.
func TestJobsRetained(t *testing.T) {
	x := newEnvModel(t, memory.Config{KeepFinished: 2})
	var ids []string
	for range 25 {
		ids = append(ids, x.submit("alice", domain.JobTypeTraining))
	}
	for _, id := range ids[:22] {
		x.must(x.h.CancelJob(x.ctx, id, "alice", "test"))
	}
	x.awaitReadModel()
	var page rest.JobListJSON
	x.get("/api/jobs?limit=100", http.StatusOK, &page)
	if page.RetainedAfterPosition == 0 || page.Total != 25 || len(page.Jobs) != 5 {
		t.Fatalf("list: retained after %d, total %d, %d jobs; want a horizon, 25, 3 pending + 2 cancelled",
			page.RetainedAfterPosition, page.Total, len(page.Jobs))
	}
	var job rest.JobJSON
	x.get("/api/jobs/"+ids[0], http.StatusOK, &job)
	if job.ID != ids[0] || job.Status != "cancelled" {
		t.Fatalf("job let go of: %+v", job)
	}
	x.get("/api/jobs/"+uuid.NewString(), http.StatusNotFound, nil)

	var complete rest.JobListJSON
	newEnv(t).get("/api/jobs", http.StatusOK, &complete)
	if complete.RetainedAfterPosition != 0 {
		t.Fatalf("a model that keeps every job: retained after %d", complete.RetainedAfterPosition)
	}
}
