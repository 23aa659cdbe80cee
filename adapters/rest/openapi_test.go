package rest

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

type oaParam struct {
	Ref    string `json:"$ref"`
	Name   string `json:"name"`
	In     string `json:"in"`
	Schema struct {
		Enum []string `json:"enum"`
	} `json:"schema"`
}

type oaDoc struct {
	OpenAPI    string                                  `json:"openapi"`
	Paths      map[string]map[string]oaOperation       `json:"paths"`
	Components struct{ Parameters map[string]oaParam } `json:"components"`
}

type oaOperation struct {
	OperationID string             `json:"operationId"`
	Parameters  []oaParam          `json:"parameters"`
	Responses   map[string]any     `json:"responses"`
	Security    *[]json.RawMessage `json:"security"`
}

func loadDoc(t *testing.T, raw []byte) oaDoc {
	t.Helper()
	var d oaDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return d
}

// params resolves an operation's parameters ($ref included) by location.
func (d oaDoc) params(t *testing.T, op oaOperation) map[string]map[string]oaParam {
	t.Helper()
	out := map[string]map[string]oaParam{}
	for _, p := range op.Parameters {
		if p.Ref != "" {
			name := strings.TrimPrefix(p.Ref, "#/components/parameters/")
			r, ok := d.Components.Parameters[name]
			if !ok {
				t.Fatalf("dangling parameter $ref %s", p.Ref)
			}
			p = r
		}
		if out[p.In] == nil {
			out[p.In] = map[string]oaParam{}
		}
		if _, dup := out[p.In][p.Name]; dup {
			t.Fatalf("%s parameter %q listed twice", p.In, p.Name)
		}
		out[p.In][p.Name] = p
	}
	return out
}

func allOptions() Options {
	return Options{Metrics: http.NotFoundHandler()}
}

// TestOpenAPIMatchesRoutes walks echo's registered routes: each is in the
// document with the same method, path, path parameters and query
// parameters, and every operation of the document is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := New(Deps{}, allOptions(), nil)
	doc := loadDoc(t, openapiJSON)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	routes := s.Routes()
	if len(routes) < 14 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	seen := map[string]bool{}
	pathParams := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	for _, r := range routes {
		p := OpenAPIPath(r.Path)
		method := strings.ToLower(r.Method)
		op, ok := doc.Paths[p][method]
		if !ok {
			t.Errorf("route %s %s is not in openapi.json (as %s %s)", r.Method, r.Path, method, p)
			continue
		}
		seen[p+" "+method] = true
		if op.OperationID == "" || len(op.Responses) == 0 {
			t.Errorf("%s %s: operation without operationId or responses", method, p)
		}
		ps := doc.params(t, op)
		var wantPath []string
		for _, m := range pathParams.FindAllStringSubmatch(r.Path, -1) {
			wantPath = append(wantPath, m[1])
		}
		if got := sortedKeys(ps["path"]); !slices.Equal(got, sorted(wantPath)) {
			t.Errorf("%s %s: path parameters documented %v, route has %v", method, p, got, wantPath)
		}
		if got := sortedKeys(ps["query"]); !slices.Equal(got, sorted(r.Params)) {
			t.Errorf("%s %s: query parameters documented %v, route accepts %v", method, p, got, sorted(r.Params))
		}
		open := slices.Contains([]string{"/api/health", "/api/openapi.json", "/metrics"}, r.Path)
		if documentedOpen := op.Security != nil && len(*op.Security) == 0; documentedOpen != open {
			t.Errorf("%s %s: documented open=%v, route open=%v", method, p, documentedOpen, open)
		}
	}
	for p, ops := range doc.Paths {
		for method := range ops {
			if !seen[p+" "+method] {
				t.Errorf("openapi.json documents %s %s, which is not a route", strings.ToUpper(method), p)
			}
		}
	}
	// The served document is the file when every route is registered.
	var file, served any
	_ = json.Unmarshal(openapiJSON, &file)
	_ = json.Unmarshal(s.doc, &served)
	if !reflect.DeepEqual(file, served) {
		t.Error("the served document differs from openapi.json with every route registered")
	}
}

// TestOpenAPIEnumsMatchValidation checks that the documented values of
// each enum parameter are exactly those the handlers accept.
func TestOpenAPIEnumsMatchValidation(t *testing.T) {
	doc := loadDoc(t, openapiJSON)
	checks := []struct {
		path, param string
		want        []string
	}{
		{"/api/jobs", "status", jobStatuses.names},
		{"/api/jobs", "type", jobTypes.names},
		{"/api/nodes", "online", booleans.names},
		{"/api/nodes", "device", devices.names},
		{"/api/nodes", "sort", nodeSorts.names},
		{"/api/nodes", "order", orders.names},
		{"/api/payments", "status", paymentStatuses.names},
		{"/api/logs", "level", logLevels.names},
	}
	for _, c := range checks {
		p, ok := doc.params(t, doc.Paths[c.path]["get"])["query"][c.param]
		if !ok {
			t.Errorf("%s ?%s is not documented", c.path, c.param)
			continue
		}
		if !slices.Equal(sorted(p.Schema.Enum), sorted(c.want)) {
			t.Errorf("%s ?%s: documented %v, accepted %v", c.path, c.param, p.Schema.Enum, c.want)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}
