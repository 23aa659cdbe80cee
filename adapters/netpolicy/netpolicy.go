// Package netpolicy decides which network addresses the server may push
// to: the control endpoints nodes register, which the dispatcher dials
// with AssignJob (the job and its P2P token). Anyone may register a node,
// so without a policy the server could be made to send requests into its
// own network or to a cloud metadata service.
//
// Some addresses are refused whatever the configuration: unspecified,
// link-local (with the metadata address 169.254.169.254), multicast,
// broadcast, reserved and the cloud providers' metadata addresses. In the
// "private" mode (the default: local nodes, the README's walkthrough)
// loopback and private ranges are allowed; the "public" mode, for a
// deployment open to the internet, refuses every address that is not
// public unicast. Extra networks can be refused by CIDR.
//
// A policy is checked where an address enters (registration, with a clear
// error naming the rule) and again on every connection the dispatcher
// opens (Control, given to the dialer), on the address a host name
// resolved to — so DNS rebinding cannot slip past it.
package netpolicy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// Modes of a policy (config scheduler.node_networks).
const (
	ModePrivate = "private" // loopback and private ranges allowed
	ModePublic  = "public"  // public unicast only
)

// ErrRefused marks an address the policy refuses.
var ErrRefused = errors.New("node address refused")

type rule struct {
	prefix netip.Prefix
	what   string
}

func rules(rs ...string) []rule {
	out := make([]rule, 0, len(rs)/2)
	for i := 0; i < len(rs); i += 2 {
		out = append(out, rule{netip.MustParsePrefix(rs[i]), rs[i+1]})
	}
	return out
}

// always lists what no mode allows; the most specific first, so an error
// names the narrowest rule.
var always = rules(
	"169.254.169.254/32", "the cloud metadata address",
	"169.254.170.2/32", "a cloud metadata address (ECS)",
	"fd00:ec2::254/128", "the cloud metadata address (AWS IPv6)",
	"100.100.100.200/32", "a cloud metadata address (Alibaba)",
	"0.0.0.0/8", "unspecified",
	"::/128", "unspecified",
	"169.254.0.0/16", "link-local",
	"fe80::/10", "link-local",
	"224.0.0.0/4", "multicast",
	"ff00::/8", "multicast",
	"255.255.255.255/32", "broadcast",
	"240.0.0.0/4", "reserved",
)

// nonPublic lists what the public mode refuses besides.
var nonPublic = rules(
	"127.0.0.0/8", "loopback",
	"::1/128", "loopback",
	"10.0.0.0/8", "private",
	"172.16.0.0/12", "private",
	"192.168.0.0/16", "private",
	"100.64.0.0/10", "shared (carrier-grade NAT)",
	"fc00::/7", "unique local (private)",
	"192.0.0.0/24", "IETF protocol assignments",
	"198.18.0.0/15", "benchmarking",
	"192.0.2.0/24", "documentation",
	"198.51.100.0/24", "documentation",
	"203.0.113.0/24", "documentation",
	"2001:db8::/32", "documentation",
)

// Prefixes that embed an IPv4 address: the embedded one is checked too.
var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixto4 = netip.MustParsePrefix("2002::/16")
)

// Policy is a parsed address policy; the zero value is nil-safe only
// through New.
type Policy struct {
	mode   string
	denied []rule
}

// New builds a policy: mode is ModePrivate ("" too) or ModePublic; denied
// are extra CIDRs ("10.1.0.0/16", "2001:db8::/32") or single addresses to
// refuse.
func New(mode string, denied []string) (*Policy, error) {
	p := &Policy{mode: mode}
	switch mode {
	case "", ModePrivate:
		p.mode = ModePrivate
	case ModePublic:
	default:
		return nil, fmt.Errorf("node networks %q: want %q or %q", mode, ModePrivate, ModePublic)
	}
	for _, d := range denied {
		d = strings.TrimSpace(d)
		pre, err := netip.ParsePrefix(d)
		if err != nil {
			a, aerr := netip.ParseAddr(d)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("denied network %q is neither a CIDR nor an address", d)
			}
			pre = netip.PrefixFrom(a, a.BitLen())
		}
		if pre.Addr().Zone() != "" {
			return nil, fmt.Errorf("denied network %q has a zone", d)
		}
		p.denied = append(p.denied, rule{pre.Masked(), "in a denied network (" + pre.Masked().String() + ")"})
	}
	return p, nil
}

// Mode is the policy's mode.
func (p *Policy) Mode() string { return p.mode }

// Check refuses an address the policy does not allow; the error names the
// rule and wraps ErrRefused.
func (p *Policy) Check(a netip.Addr) error {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return fmt.Errorf("%w: not an IP address", ErrRefused)
	}
	if err := p.check(a, a); err != nil {
		return err
	}
	var embedded netip.Addr
	switch b := a.As16(); {
	case nat64.Contains(a):
		embedded = netip.AddrFrom4([4]byte(b[12:16]))
	case sixto4.Contains(a):
		embedded = netip.AddrFrom4([4]byte(b[2:6]))
	}
	if embedded.IsValid() {
		return p.check(embedded, a)
	}
	return nil
}

func (p *Policy) check(a, shown netip.Addr) error {
	for _, r := range always {
		if r.prefix.Contains(a) {
			return fmt.Errorf("%w: %s is %s; the server never pushes to such an address", ErrRefused, shown, r.what)
		}
	}
	for _, r := range p.denied {
		if r.prefix.Contains(a) {
			return fmt.Errorf("%w: %s is %s (scheduler.node_denied_networks)", ErrRefused, shown, r.what)
		}
	}
	if p.mode == ModePublic {
		for _, r := range nonPublic {
			if r.prefix.Contains(a) {
				return fmt.Errorf("%w: %s is %s; this server pushes to public addresses only (scheduler.node_networks = \"public\")", ErrRefused, shown, r.what)
			}
		}
	}
	return nil
}

// CheckHost checks a registered host: an IP address is checked now;
// "localhost" (and *.localhost) counts as loopback; another host name is
// checked on every dial, on the addresses it resolves to (Control).
func (p *Policy) CheckHost(host string) error {
	if a, err := netip.ParseAddr(host); err == nil {
		return p.Check(a)
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		if err := p.Check(netip.MustParseAddr("127.0.0.1")); err != nil {
			return fmt.Errorf("%w (host %s)", err, host)
		}
	}
	return nil
}

// Control is a net.Dialer Control function: it refuses a connection to an
// address the policy does not allow, after name resolution.
func (p *Policy) Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrRefused, address, err)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address", ErrRefused, host)
	}
	return p.Check(a)
}
