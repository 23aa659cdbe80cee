// Package pgtest gives tests of the PostgreSQL event store a database:
// the shared test server (CYXWIZ_TEST_POSTGRES_URL, default the local
// one), a fresh schema per test, and a throwaway cluster of their own for
// the tests that restart PostgreSQL. A test whose database is absent skips
// with a loud reason, and fails under CI=true.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URLEnv names the PostgreSQL server the tests use.
const URLEnv = "CYXWIZ_TEST_POSTGRES_URL"

const defaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var (
	reachOnce sync.Once
	reachErr  error
)

// Unavailable skips tb with msg, or fails it under CI=true.
func Unavailable(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// URL returns the shared test server's URL, or skips (fails in CI) when it
// is unreachable.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(URLEnv)
	if url == "" {
		url = defaultURL
	}
	reachOnce.Do(func() { reachErr = ping(url) })
	if reachErr != nil {
		Unavailable(tb, "POSTGRESQL UNREACHABLE at "+url+" (set "+URLEnv+"): "+reachErr.Error()+
			" — the PostgreSQL event store tests did NOT run")
	}
	return url
}

func ping(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	return c.Ping(ctx)
}

// Schema returns a schema name no other test uses, dropped with
// everything in it when the test ends (after the cleanups registered
// later, such as closing the store).
func Schema(tb testing.TB, url string) string {
	tb.Helper()
	return NamedSchema(tb, url, "estest_")
}

// NamedSchema is Schema with the name's prefix chosen by the caller (each
// package's tests name theirs, so a schema left by a killed run says whose
// it is).
func NamedSchema(tb testing.TB, url, prefix string) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}
