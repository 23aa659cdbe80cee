package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/adapters/certs"
	"github.com/cyxwiz/central-server/adapters/config"
)

// certsCmd is `certs init DIR`: a development CA, a server certificate and
// node certificates (adapters/certs).
func certsCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "init" {
		return errors.New("usage: cyxwiz-central certs init DIR [--host NAMES] [--node OWNERS] [--node-host NAMES] [--days N]")
	}
	fs := flag.NewFlagSet("certs init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hosts := fs.String("host", "localhost,127.0.0.1,::1", "comma-separated DNS names and IP addresses of the server certificate")
	nodes := fs.String("node", "", "comma-separated node owners (the sub of their user tokens) to make node certificates for")
	nodeHosts := fs.String("node-host", "localhost,127.0.0.1,::1", "names and addresses the node certificates serve their control port as")
	days := fs.Int("days", 365, "validity of the certificates in days")
	rest := args[1:]
	// DIR may come before or after the flags.
	dir := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		dir, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if dir == "" && fs.NArg() == 1 {
		dir = fs.Arg(0)
	} else if fs.NArg() > 0 || dir == "" {
		return errors.New("certs init: one directory, please: cyxwiz-central certs init DIR [flags]")
	}
	if *days < 1 {
		return fmt.Errorf("certs init: --days must be at least 1, got %d", *days)
	}
	list := func(s string) []string { return config.NewList(strings.Split(s, ",")...).Items() }
	written, err := certs.Init(dir, certs.InitOptions{
		Hosts: list(*hosts), Nodes: list(*nodes), NodeHosts: list(*nodeHosts),
		Validity: time.Duration(*days) * 24 * time.Hour,
	})
	for _, w := range written {
		fmt.Fprintln(stdout, "wrote", w)
	}
	return err
}
