package projections

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/fnv"
	"math"
	"slices"
	"strings"
)

// Page tokens are opaque to clients: base64url of a version, the kind of
// list, a fingerprint of the filter that produced it, the cursor (the last
// item's keys) and a checksum. A token is only valid for the same kind of
// list and the same filter and sort; anything else is ErrBadPageToken.

const tokenVersion = 1

const (
	kindJobs  byte = 'J'
	kindNodes byte = 'N'
)

func badToken(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadPageToken, fmt.Sprintf(format, args...))
}

func encodeToken(kind byte, fp uint64, payload []byte) string {
	b := make([]byte, 0, 2+8+len(payload)+4)
	b = append(b, tokenVersion, kind)
	b = binary.BigEndian.AppendUint64(b, fp)
	b = append(b, payload...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(token string, kind byte, fp uint64) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, badToken("not a token this server issued")
	}
	if len(b) < 2+8+4 {
		return nil, badToken("truncated")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	switch {
	case crc32.ChecksumIEEE(body) != sum:
		return nil, badToken("damaged")
	case body[0] != tokenVersion || body[1] != kind:
		return nil, badToken("issued for another list")
	case binary.BigEndian.Uint64(body[2:10]) != fp:
		return nil, badToken("issued for another filter or sort; start again without a token")
	}
	return body[10:], nil
}

// fingerprint feeds a filter's fields, unambiguously, to a hash.
type fingerprint struct{ h hash.Hash64 }

func (f fingerprint) str(s string) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(s)))
	f.h.Write(n[:])
	f.h.Write([]byte(s))
}

func (f fingerprint) num(v uint64) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], v)
	f.h.Write(n[:])
}

func (f *JobFilter) fingerprint() uint64 {
	h := fnv.New64a()
	fp := fingerprint{h}
	fp.str(f.Owner)
	if f.Type != nil {
		fp.num(1)
		fp.num(uint64(*f.Type))
	} else {
		fp.num(0)
	}
	statuses := slices.Clone(f.Statuses)
	slices.Sort(statuses)
	statuses = slices.Compact(statuses)
	fp.num(uint64(len(statuses)))
	for _, s := range statuses {
		fp.num(uint64(s))
	}
	return h.Sum64()
}

// EncodeJobToken returns the token of the page of f that follows the job
// submitted at global position after.
func EncodeJobToken(f JobFilter, after uint64) string {
	return encodeToken(kindJobs, f.fingerprint(), binary.BigEndian.AppendUint64(nil, after))
}

// DecodeJobToken returns the cursor of f.PageToken: 0 (the start) for no
// token.
func DecodeJobToken(f JobFilter) (after uint64, err error) {
	if f.PageToken == "" {
		return 0, nil
	}
	p, err := decodeToken(f.PageToken, kindJobs, f.fingerprint())
	if err != nil {
		return 0, err
	}
	if len(p) != 8 {
		return 0, badToken("malformed")
	}
	after = binary.BigEndian.Uint64(p)
	if after == 0 {
		return 0, badToken("malformed")
	}
	return after, nil
}

func (f *NodeListFilter) fingerprint() uint64 {
	h := fnv.New64a()
	fp := fingerprint{h}
	flags := uint64(0)
	if f.OnlineOnly {
		flags |= 1
	}
	if f.Descending {
		flags |= 2
	}
	fp.num(flags)
	fp.num(uint64(f.Device))
	fp.str(strings.ToLower(f.Region))
	fp.str(f.Owner)
	fp.num(math.Float64bits(f.MinPrice))
	fp.num(math.Float64bits(f.MaxPrice))
	fp.num(uint64(f.Sort))
	return h.Sum64()
}

// EncodeNodeToken returns the token of the page of f that follows c.
func EncodeNodeToken(f NodeListFilter, c NodeCursor) string {
	p := make([]byte, 0, 16+len(c.ID))
	p = binary.BigEndian.AppendUint64(p, math.Float64bits(c.K1))
	p = binary.BigEndian.AppendUint64(p, math.Float64bits(c.K2))
	p = append(p, c.ID...)
	return encodeToken(kindNodes, f.fingerprint(), p)
}

// DecodeNodeToken returns the cursor of f.PageToken; ok is false for no
// token (the first page).
func DecodeNodeToken(f NodeListFilter) (c NodeCursor, ok bool, err error) {
	if f.PageToken == "" {
		return NodeCursor{}, false, nil
	}
	p, err := decodeToken(f.PageToken, kindNodes, f.fingerprint())
	if err != nil {
		return NodeCursor{}, false, err
	}
	if len(p) <= 16 {
		return NodeCursor{}, false, badToken("malformed")
	}
	c = NodeCursor{
		K1: math.Float64frombits(binary.BigEndian.Uint64(p[0:8])),
		K2: math.Float64frombits(binary.BigEndian.Uint64(p[8:16])),
		ID: string(p[16:]),
	}
	if math.IsNaN(c.K1) || math.IsNaN(c.K2) {
		return NodeCursor{}, false, badToken("malformed")
	}
	return c, true, nil
}
