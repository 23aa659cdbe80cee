package domain_test

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/domain"
	"github.com/mr-tron/base58"
)

func TestBase58RoundTrip(t *testing.T) {
	for _, b := range [][]byte{{}, {0}, {0, 0, 1}, {255}, {1, 2, 3, 4, 5}, make([]byte, 32), []byte(strings.Repeat("\xff", 32))} {
		got, err := domain.DecodeBase58(base58.Encode(b))
		if err != nil || string(got) != string(b) {
			t.Fatalf("decode(encode(%x)) = %x, %v", b, got, err)
		}
	}
	// Known vectors: the System Program is 32 zero bytes; the Memo
	// program's id decodes to 32 bytes starting 05 4a 53 5a.
	if b, err := domain.DecodeBase58("11111111111111111111111111111111"); err != nil || len(b) != 32 || strings.Trim(string(b), "\x00") != "" {
		t.Fatalf("system program: %x, %v", b, err)
	}
	if b, err := domain.DecodeBase58("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"); err != nil || len(b) != 32 || b[0] != 0x05 || b[1] != 0x4a {
		t.Fatalf("memo program: %x, %v", b, err)
	}
}

func TestCheckAddress(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	good := base58.Encode(pub)
	tests := []struct {
		name, addr, mention string
	}{
		{"a fresh key", good, ""},
		{"the memo program", "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr", ""},
		{"the system program", "11111111111111111111111111111111", ""},
		{"empty", "", "empty"},
		{"a zero", "0" + good[1:], "not base58"},
		{"a capital O", good[:5] + "O" + good[6:], "not base58"},
		{"too short", good[:20], "bytes"},
		{"too long", good + good[:4], "bytes"},
		{"33 bytes", base58.Encode(append([]byte{1}, make([]byte, 32)...)), "33 bytes"},
		{"31 bytes", base58.Encode(append([]byte{1}, make([]byte, 30)...)), "31 bytes"},
		{"a space", " " + good, "not base58"},
		{"huge", strings.Repeat("z", 1000), "characters"},
	}
	for _, tc := range tests {
		err := domain.CheckAddress(tc.addr)
		if (err == nil) != (tc.mention == "") {
			t.Errorf("%s: CheckAddress(%q) = %v", tc.name, tc.addr, err)
		} else if err != nil && !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: %v; want it to mention %q", tc.name, err, tc.mention)
		}
	}
}
