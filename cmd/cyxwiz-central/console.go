package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	"github.com/cyxwiz/central-server/adapters/tui"
	"github.com/cyxwiz/central-server/adapters/tui/attach"
	"github.com/cyxwiz/central-server/adapters/tui/inproc"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/projections"
	"github.com/gdamore/tcell/v2"
)

// serveWithConsole runs the server and the console in one process: the
// server logs into the console's Logs view, and quitting the console stops
// the server. The lines at warn and above are printed on stderr afterwards,
// so nothing important is lost with the screen.
func serveWithConsole(cfg config.Config, stderr io.Writer) error {
	logs := logbuf.New(0)
	log := slog.New(logs.Handler(logLevel()))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	con, app, err := startWithConsole(ctx, cfg, Settings{}, log, logs, nil)
	if err != nil {
		dumpLogs(stderr, logs, slog.LevelDebug)
		return err
	}
	go func() {
		<-ctx.Done()
		con.Stop()
	}()
	runErr := con.Run()
	log.Info("console closed; shutting down", "grace", cfg.Server.ShutdownGrace())
	fmt.Fprintln(stderr, "cyxwiz-central: console closed; shutting down")
	stopErr := app.Stop()
	dumpLogs(stderr, logs, slog.LevelWarn)
	return errors.Join(runErr, stopErr)
}

// startWithConsole starts the server with its logs in logs and returns a
// console over it (not yet running) on screen (nil: the terminal).
func startWithConsole(ctx context.Context, cfg config.Config, set Settings, log *slog.Logger, logs *logbuf.Buffer, screen tcell.Screen) (*tui.Console, *App, error) {
	var src atomic.Pointer[inproc.Source]
	set.Observe = func(batch []projections.Envelope) {
		if s := src.Load(); s != nil {
			s.Observe(batch)
		}
	}
	started := time.Now()
	set.Logs = logs
	app, err := NewApp(cfg, set, log)
	if err != nil {
		return nil, nil, err
	}
	if err := app.Start(ctx); err != nil {
		return nil, nil, err
	}
	escrow := app.escrowAddress()
	src.Store(inproc.New(inproc.Deps{
		Jobs: app.model, Nodes: app.model, Stats: app.model, Activity: app.model, Payments: app.model,
		Store: app.store, Codec: commands.NewCodec(), Health: app.components, Config: cfg, EscrowAddress: escrow, Logs: logs,
		MaxJobsPerNode: cfg.Scheduler.MaxJobsPerNode, Version: version, Started: started, Now: app.set.Now,
	}))
	return tui.New(src.Load(), tui.Options{Screen: screen, Version: version}), app, nil
}

// components is the health check as the console reads it.
func (a *App) components(ctx context.Context) []tui.Component {
	var out []tui.Component
	for name, c := range a.health(ctx) {
		out = append(out, tui.Component{Name: name, Status: c.Status, Detail: c.Detail})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// dumpLogs prints the buffered lines at or above min.
func dumpLogs(w io.Writer, logs *logbuf.Buffer, min slog.Level) {
	for _, l := range logs.Lines(min, 200) {
		fmt.Fprintf(w, "%s %-5s %s\n", l.Time.UTC().Format(time.RFC3339), l.Level, l.Text)
	}
}

func consoleCmd(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", envOr("CYXWIZ_API", "http://127.0.0.1:8080"), "the server's REST API")
	token := fs.String("token", os.Getenv("CYXWIZ_TOKEN"), "an operator's token (cyxwiz-central token --sub NAME --role operator)")
	var files tlsconf.ClientFiles
	files.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	client, err := httpClient(*api, files)
	if err != nil {
		return err
	}
	if *token == "" {
		return errors.New("console: --token T (or CYXWIZ_TOKEN) is required; mint one on the server with `cyxwiz-central token --sub NAME --role operator`")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	con, err := attachedConsole(ctx, *api, *token, nil, client)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		con.Stop()
	}()
	return con.Run()
}

// attachedConsole returns a console over the REST API at api, following
// its event stream until ctx ends.
func attachedConsole(ctx context.Context, api, token string, screen tcell.Screen, client *http.Client) (*tui.Console, error) {
	src, err := attach.New(api, token, attach.Options{Client: client})
	if err != nil {
		return nil, err
	}
	go src.Run(ctx)
	return tui.New(src, tui.Options{Screen: screen, Version: version}), nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// httpClient is the console's REST client: https:// with the --ca (and
// --cert/--key) files, or the default client (nil) for http://.
func httpClient(api string, files tlsconf.ClientFiles) (*http.Client, error) {
	if !strings.HasPrefix(api, "https://") {
		if files.Enabled() {
			return nil, fmt.Errorf("console: --ca/--cert/--key need an https:// --api, got %q", api)
		}
		return nil, nil
	}
	c, err := files.Config()
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c, ForceAttemptHTTP2: true}}, nil
}
