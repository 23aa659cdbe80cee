package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func execLookPath(name string) (string, error) { return exec.LookPath(name) }

func execCommand(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return <-done
	}
}

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	cmd, args string
	stage     int // 0-based index of the FROM it belongs to
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	stage := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, instruction{cmd: cmd, args: strings.TrimSpace(args), stage: stage})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDockerfile checks the image's key properties: multi-stage, a pinned
// Go builder at least as new as go.mod, static build flags, a small final
// base, a non-root USER, the HEALTHCHECK, the ports, and that the build
// context keeps what the build copies.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	args := map[string]string{}
	var froms []string
	for _, in := range ins {
		switch in.cmd {
		case "ARG":
			if k, v, ok := strings.Cut(in.args, "="); ok && in.stage < 0 {
				args[k] = v
			}
		case "FROM":
			image := strings.Fields(in.args)[0]
			for k, v := range args {
				image = strings.ReplaceAll(image, "${"+k+"}", v)
			}
			froms = append(froms, image)
		}
	}
	last := len(froms) - 1
	if len(froms) < 2 {
		t.Fatalf("FROM %v: want a multi-stage build", froms)
	}
	goVersion := regexp.MustCompile(`^golang:(\d+)\.(\d+)(?:\.(\d+))?`).FindStringSubmatch(froms[0])
	if goVersion == nil || !pinned(froms[0]) {
		t.Fatalf("builder %q: want a pinned golang:X.Y[.Z] image", froms[0])
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(string(mod))
	if goVersion[1] != want[1] || atoi(goVersion[2]) < atoi(want[2]) {
		t.Errorf("builder Go %s.%s is older than go.mod's go %s.%s", goVersion[1], goVersion[2], want[1], want[2])
	}
	final := froms[last]
	if !(strings.HasPrefix(final, "gcr.io/distroless/static") || strings.HasPrefix(final, "alpine:") || final == "scratch") || (final != "scratch" && !pinned(final) && !strings.HasSuffix(final, ":nonroot")) {
		t.Errorf("final image %q: want distroless static, alpine or scratch, pinned", final)
	}

	var build, user, health, entry strings.Builder
	exposed := map[string]bool{}
	for _, in := range ins {
		switch {
		case in.cmd == "RUN" && in.stage == 0, in.cmd == "ENV" && in.stage == 0:
			build.WriteString(in.args + "\n")
		case in.cmd == "USER" && in.stage == last:
			user.Reset()
			user.WriteString(in.args)
		case in.cmd == "HEALTHCHECK" && in.stage == last:
			health.WriteString(in.args)
		case in.cmd == "ENTRYPOINT" && in.stage == last:
			entry.WriteString(in.args)
		case in.cmd == "EXPOSE" && in.stage == last:
			for _, p := range strings.Fields(in.args) {
				exposed[p] = true
			}
		}
	}
	b := build.String()
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w`, "./cmd/cyxwiz-central", "./cmd/cyxwiz-node-sim"} {
		if !strings.Contains(b, want) {
			t.Errorf("the build stage lacks %s", want)
		}
	}
	u := strings.Split(user.String(), ":")[0]
	if u == "" || u == "root" || u == "0" {
		t.Errorf("final USER %q: want a non-root user", user.String())
	}
	if h := health.String(); !strings.Contains(h, "CMD") || !strings.Contains(h, `"healthcheck"`) || !strings.Contains(h, "/cyxwiz-central") {
		t.Errorf("HEALTHCHECK %q: want the server's healthcheck subcommand", h)
	}
	if !strings.Contains(entry.String(), "/cyxwiz-central") {
		t.Errorf("ENTRYPOINT %q: want the server", entry.String())
	}
	for _, p := range []string{"50051", "8080"} {
		if !exposed[p] {
			t.Errorf("port %s is not EXPOSEd", p)
		}
	}

	// The build context keeps what the build copies.
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimPrefix(l, "/"))
		}
	}
	for _, need := range []string{"go.mod", "go.sum", "config.toml", "cmd", "adapters", "commands", "domain", "eventstore", "projections", "proto"} {
		for _, p := range patterns {
			if ok, _ := filepath.Match(p, need); ok || p == need || p == "*" || p == "." {
				t.Errorf(".dockerignore pattern %q drops %s, which the build needs", p, need)
			}
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
