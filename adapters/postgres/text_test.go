package postgres

import "testing"

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":      "plain",
		"a\x00b":     "a\uFFFDb",
		"bad \xff":   "bad \uFFFD",
		"":           "",
		"é✓\x00\x00": "é✓\uFFFD\uFFFD",
	} {
		if got := text(in); got != want {
			t.Errorf("text(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`{"a":"x"}`:                 `{"a":"x"}`,
		`{"a":"\u0000"}`:            `{"a":"\ufffd"}`,
		`{"a":"\\u0000"}`:           `{"a":"\\u0000"}`,  // an escaped backslash, then text
		`{"a":"\\\u0000"}`:          `{"a":"\\\ufffd"}`, // an escaped backslash, then a NUL
		`{"\u0000":"\u0000\u0000"}`: `{"\ufffd":"\ufffd\ufffd"}`,
	} {
		if got := string(jsonText([]byte(in))); got != want {
			t.Errorf("jsonText(%s) = %s, want %s", in, got, want)
		}
	}
}
