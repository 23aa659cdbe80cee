package postgres

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// PostgreSQL text and jsonb cannot hold U+0000 (nor invalid UTF-8, which
// the log's JSON never yields). The event log can: a string field of an
// event may contain NUL. So that such an event never stops the projector,
// every string is stored with U+0000 (and any invalid byte) replaced by
// U+FFFD, and lookups apply the same replacement, so they still find it.
// It is the only place the PostgreSQL model can differ from the memory
// model.

// text returns s as a text column stores it.
func text(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

// jsonText returns b, the output of encoding/json (valid UTF-8), with the
// escaped NULs (\u0000) replaced by \ufffd, as jsonb stores it.
func jsonText(b []byte) []byte {
	const nul = `\u0000`
	i := bytes.Index(b, []byte(nul))
	if i < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i >= 0 {
		// An escape only when preceded by an even number of backslashes.
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		out = append(out, b[:i]...)
		if n%2 == 0 {
			out = append(out, `\ufffd`...)
		} else {
			out = append(out, nul...)
		}
		b = b[i+len(nul):]
		i = bytes.Index(b, []byte(nul))
	}
	return append(out, b...)
}
