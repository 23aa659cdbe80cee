package rest

import (
	_ "embed"
	"encoding/json"
	"regexp"
	"strings"
)

// openapiJSON is the hand-written OpenAPI 3 document of every route the
// server can register; a test checks it against echo's routes, their
// query parameters and the enums the handlers accept.
//
//go:embed openapi.json
var openapiJSON []byte

var pathParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// OpenAPIPath turns an echo path (/api/jobs/:id) into its OpenAPI form
// (/api/jobs/{id}).
func OpenAPIPath(echoPath string) string {
	return pathParam.ReplaceAllString(echoPath, "{$1}")
}

// servedDocument is the document without the routes this server did not
// register (/metrics when metrics are off), so that it always matches.
func (s *Server) servedDocument() []byte {
	var doc map[string]any
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		panic("rest: openapi.json: " + err.Error()) // embedded and tested: cannot happen
	}
	registered := map[string]bool{}
	for _, r := range s.echo.Routes() {
		registered[OpenAPIPath(r.Path)+" "+strings.ToLower(r.Method)] = true
	}
	paths, _ := doc["paths"].(map[string]any)
	for p, item := range paths {
		ops, _ := item.(map[string]any)
		for method := range ops {
			if !registered[p+" "+method] {
				delete(ops, method)
			}
		}
		if len(ops) == 0 {
			delete(paths, p)
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("rest: openapi.json: " + err.Error())
	}
	return out
}
