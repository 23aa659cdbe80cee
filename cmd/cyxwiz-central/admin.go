package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/adapters/rest"
)

// adminCall makes one call to a running server's REST API with token and
// decodes a success into out (when not nil); an error answer becomes an
// error carrying the server's message.
func adminCall(ctx context.Context, api, token, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(api, "/")+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, api, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error.Message)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// nodeCmd is `cyxwiz-central node ban|unban|delete ID`: an operator's
// decision about a node, made through the running server's REST API with
// an admin token and recorded with the operator as actor.
func nodeCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("node: want ban, unban or delete, then the node id")
	}
	action, args := args[0], args[1:]
	fs := flag.NewFlagSet("node "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", cmp.Or(os.Getenv("CYXWIZ_API"), "http://127.0.0.1:8080"), "the server's REST address (default $CYXWIZ_API)")
	token := fs.String("token", "", "a token whose role is admin (default $CYXWIZ_TOKEN)")
	reason := fs.String("reason", "", "why, recorded in the event")
	id := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if id == "" {
		return fmt.Errorf("node %s: which node? give its id", action)
	}
	tok := cmp.Or(*token, os.Getenv("CYXWIZ_TOKEN"))
	if tok == "" {
		return errors.New("node: needs --token (or CYXWIZ_TOKEN): a token whose role is admin, from `cyxwiz-central token --sub NAME --role admin`")
	}
	var method, path string
	var body any
	switch action {
	case "ban":
		method, path, body = http.MethodPost, "/api/admin/nodes/"+url.PathEscape(id)+"/ban", map[string]string{"reason": *reason}
	case "unban":
		method, path = http.MethodPost, "/api/admin/nodes/"+url.PathEscape(id)+"/unban"
	case "delete":
		method, path = http.MethodDelete, "/api/admin/nodes/"+url.PathEscape(id)
		if *reason != "" {
			path += "?reason=" + url.QueryEscape(*reason)
		}
	default:
		return fmt.Errorf("node: unknown action %q: want ban, unban or delete", action)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var st rest.NodeAction
	if err := adminCall(ctx, *api, tok, method, path, body, &st); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "node %s: banned=%v deleted=%v\n", st.NodeID, st.Banned, st.Deleted)
	return nil
}
