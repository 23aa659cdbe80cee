// Command cyxwiz-central is the CyxWiz central server: gRPC services for
// nodes and clients over an event-sourced core.
//
//	cyxwiz-central [serve] [--config PATH] [--tui]   run the server (default)
//	cyxwiz-central tui [--config PATH]        run the server with the console
//	cyxwiz-central console --api URL --token T   attach the console to a server
//	cyxwiz-central token --sub NAME [--wallet ADDR] [--role ROLE] [--ttl 1h]
//	cyxwiz-central replay [--verify]
//	cyxwiz-central audit job|node ID [--json]
//	cyxwiz-central node ban|unban|delete ID [--reason R] [--api URL] [--token ADMIN_TOKEN]
//	cyxwiz-central certs init DIR [--host NAMES] [--node OWNERS]
//	cyxwiz-central version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/logbuf"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCmd(args, stderr)
	case "tui":
		err = serveCmd(append([]string{"--tui"}, args...), stderr)
	case "console":
		err = consoleCmd(args, stderr)
	case "token":
		err = tokenCmd(args, stdout, stderr)
	case "replay":
		err = replayCmd(args, stdout, stderr)
	case "audit":
		err = auditCmd(args, stdout, stderr)
	case "healthcheck":
		err = healthcheckCmd(args, stdout, stderr)
	case "node":
		err = nodeCmd(args, stdout, stderr)
	case "certs":
		err = certsCmd(args, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "cyxwiz-central %s\n", version)
	case "help", "-h", "--help":
		usage(stdout)
	default:
		usage(stderr)
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "cyxwiz-central: %v\n", err)
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  cyxwiz-central [serve] [--config PATH] [--tui]
                                            run the server (the default command); --tui shows the console,
                                            with the server's logs in its Logs view
  cyxwiz-central tui [--config PATH]        the same as serve --tui
  cyxwiz-central console [--api URL] [--token T]
                                            attach the console to a running server through its REST API
                                            (token: an operator's; CYXWIZ_API and CYXWIZ_TOKEN are the defaults)
  cyxwiz-central token --sub NAME [--wallet ADDR] [--role ROLE] [--ttl 1h] [--config PATH]
                                            mint a user token signed with the server's secret
  cyxwiz-central replay [--verify] [--keep] rebuild the PostgreSQL read models from position 0 into a fresh
                                            schema; --verify compares with the live ones (exit 1 on a difference)
  cyxwiz-central replay --online [--api URL] [--token ADMIN_TOKEN]
                                            rebuild inside the running server, which serves on and swaps
                                            the rebuild in once it has caught up
  cyxwiz-central audit job|node ID [--json] print a job's or a node's full history from the log
                                            (the server must be stopped: it holds the log file)
  cyxwiz-central healthcheck [--addr HOST:PORT] [--service NAME] [--timeout 3s]
                                            [--ca FILE [--cert FILE --key FILE]]
                                            probe a running server's gRPC health service; exit 0 only
                                            when it answers SERVING (the container HEALTHCHECK)
  cyxwiz-central node ban|unban|delete ID [--reason R] [--api URL] [--token ADMIN_TOKEN]
                                            an operator's decision about a node, through the running server:
                                            ban (no new jobs; its jobs go back to the queue), lift a ban, or
                                            delete it from discovery and lists (the log keeps its history)
  cyxwiz-central certs init DIR [--host NAMES] [--node OWNERS] [--node-host NAMES] [--days N]
                                            make a development CA, a server certificate and node certificates
                                            (CN = the node's owner) for TLS and mutual TLS (README "TLS")
  cyxwiz-central version                    print the version

Every config key can be overridden with CYXWIZ_<SECTION>_<KEY>, e.g. CYXWIZ_SERVER_GRPC_ADDRESS,
or read from a file with CYXWIZ_<SECTION>_<KEY>_FILE (systemd credentials, Docker secrets).
Logging: CYXWIZ_LOG (or RUST_LOG) = debug | info | warn | error.
`)
}

// loadConfig reads path (default: ./config.toml when it exists) and the
// environment.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		if _, err := os.Stat("config.toml"); err == nil {
			path = "config.toml"
		}
	}
	return config.Load(path, os.Environ())
}

func serveCmd(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default ./config.toml if present)")
	withConsole := fs.Bool("tui", false, "show the console; server logs go to its Logs view")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if *withConsole {
		return serveWithConsole(cfg, stderr)
	}
	log, logs := newLogger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	app, err := NewApp(cfg, Settings{Logs: logs}, log)
	if err != nil {
		return err
	}
	if !cfg.Server.TLS() {
		// `systemctl reload` must not stop a server with nothing to reload.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for range hup {
				log.Info("SIGHUP: TLS is off, nothing to reload")
			}
		}()
	}
	if err := app.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down", "grace", cfg.Server.ShutdownGrace())
	return app.Stop()
}

func tokenCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default ./config.toml if present)")
	sub := fs.String("sub", "", "user id (the token's subject); required")
	wallet := fs.String("wallet", "", "wallet address (base58), optional")
	role := fs.String("role", "", "role claim (user, operator, admin), optional")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sub == "" {
		return errors.New("token: --sub NAME is required")
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	secret, err := jwtSecret(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	tok, exp, err := auth.NewIssuer(secret, time.Now).MintUser(*sub, *wallet, *role, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "token for %q, expires %s\n", *sub, exp.Format(time.RFC3339))
	return nil
}

// jwtSecret is the configured secret, or the one generated in the data dir.
func jwtSecret(cfg config.Config, log *slog.Logger) ([]byte, error) {
	if cfg.JWT.Secret != "" {
		return []byte(cfg.JWT.Secret), nil
	}
	secret, created, err := auth.LoadOrCreateSecret(cfg.EventStore.DataDir)
	if err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	if created {
		log.Info("generated a JWT secret; mint a token with `cyxwiz-central token --sub NAME`", "path", cfg.EventStore.SecretPath())
	}
	return secret, nil
}

// newLogger logs text to a terminal and JSON otherwise, at the level of
// CYXWIZ_LOG or RUST_LOG (default info), and keeps the newest lines in
// the buffer it returns too (served at /api/logs): slog's MultiHandler
// fans each record out to both, attributes and groups included.
func newLogger(w io.Writer) (*slog.Logger, *logbuf.Buffer) {
	level := logLevel()
	opts := &slog.HandlerOptions{Level: level}
	var out slog.Handler = slog.NewJSONHandler(w, opts)
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		out = slog.NewTextHandler(w, opts)
	}
	logs := logbuf.New(0)
	return slog.New(slog.NewMultiHandler(out, logs.Handler(level))), logs
}

// logLevel is the level CYXWIZ_LOG or RUST_LOG asks for (default info).
func logLevel() slog.Level {
	level := slog.LevelInfo
	spec := os.Getenv("CYXWIZ_LOG")
	if spec == "" {
		spec = os.Getenv("RUST_LOG")
	}
	// RUST_LOG style: "info" or "crate=debug,info"; the bare level wins.
	for _, part := range strings.Split(spec, ",") {
		if strings.Contains(part, "=") {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "trace", "debug":
			level = slog.LevelDebug
		case "warn", "warning":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		case "info":
			level = slog.LevelInfo
		}
	}
	return level
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
