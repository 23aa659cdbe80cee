package netpolicy

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	private, err := New("", []string{"10.9.0.0/16", "203.0.113.7"})
	if err != nil {
		t.Fatal(err)
	}
	public, err := New(ModePublic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr            string
		private, public string // "" = allowed; else a word the refusal names
	}{
		{"8.8.8.8", "", ""},
		{"2606:4700::1111", "", ""},
		{"127.0.0.1", "", "loopback"},
		{"::1", "", "loopback"},
		{"192.168.1.20", "", "private"},
		{"10.0.0.5", "", "private"},
		{"fd12:3456::1", "", "unique local"},
		{"100.64.1.1", "", "carrier-grade"},
		{"169.254.169.254", "metadata", "metadata"},
		{"::ffff:169.254.169.254", "metadata", "metadata"},
		{"fd00:ec2::254", "metadata", "metadata"},
		{"169.254.1.1", "link-local", "link-local"},
		{"fe80::1%eth0", "link-local", "link-local"},
		{"0.0.0.0", "unspecified", "unspecified"},
		{"::", "unspecified", "unspecified"},
		{"224.0.0.1", "multicast", "multicast"},
		{"ff02::1", "multicast", "multicast"},
		{"255.255.255.255", "broadcast", "broadcast"},
		{"64:ff9b::a9fe:a9fe", "metadata", "metadata"}, // NAT64 of 169.254.169.254
		{"2002:a9fe:a9fe::1", "metadata", "metadata"},  // 6to4 of it
		{"64:ff9b::7f00:1", "", "loopback"},
		{"10.9.3.4", "denied network", "private"},
		{"203.0.113.7", "denied network", "documentation"},
	} {
		t.Run(c.addr, func(t *testing.T) {
			a := netip.MustParseAddr(c.addr)
			for _, m := range []struct {
				p    *Policy
				want string
			}{{private, c.private}, {public, c.public}} {
				err := m.p.Check(a)
				switch {
				case m.want == "" && err != nil:
					t.Errorf("%s: refused: %v", m.p.Mode(), err)
				case m.want != "" && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), m.want)):
					t.Errorf("%s: = %v, want a refusal naming %q", m.p.Mode(), err, m.want)
				}
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, c := range []struct {
		mode   string
		denied []string
	}{
		{"open", nil},
		{ModePublic, []string{"10.0.0.0/33"}},
		{ModePublic, []string{"example.com"}},
		{ModePublic, []string{"fe80::/10%eth0"}},
	} {
		if _, err := New(c.mode, c.denied); err == nil {
			t.Errorf("New(%q, %q) accepted", c.mode, c.denied)
		}
	}
}

func TestCheckHostAndControl(t *testing.T) {
	public, _ := New(ModePublic, nil)
	private, _ := New(ModePrivate, nil)
	for _, h := range []string{"localhost", "LOCALHOST.", "node.localhost", "127.0.0.1"} {
		if err := public.CheckHost(h); !errors.Is(err, ErrRefused) {
			t.Errorf("public CheckHost(%q) = %v", h, err)
		}
		if err := private.CheckHost(h); err != nil {
			t.Errorf("private CheckHost(%q) = %v", h, err)
		}
	}
	if err := public.CheckHost("node.example.com"); err != nil {
		t.Errorf("a host name is checked when dialled, not before: %v", err)
	}
	if err := private.CheckHost("169.254.169.254"); !errors.Is(err, ErrRefused) {
		t.Errorf("metadata host = %v", err)
	}
	// Control sees the resolved address: what a rebound name points at.
	if err := private.Control("tcp", "169.254.169.254:80", nil); !errors.Is(err, ErrRefused) {
		t.Errorf("Control(metadata) = %v", err)
	}
	if err := private.Control("tcp", "[fd00:ec2::254]:80", nil); !errors.Is(err, ErrRefused) {
		t.Errorf("Control(metadata v6) = %v", err)
	}
	if err := private.Control("tcp", "127.0.0.1:50054", nil); err != nil {
		t.Errorf("Control(loopback) = %v", err)
	}
	// A real dial through the Control hook is refused before connecting.
	d := net.Dialer{Control: public.Control}
	if _, err := d.Dial("tcp", "127.0.0.1:9"); !errors.Is(err, ErrRefused) {
		t.Errorf("dial loopback under the public policy = %v", err)
	}
}

// FuzzPolicy: parsing and checking never panic; the always-refused
// addresses are refused in every mode; whatever the public mode allows
// the private mode allows too.
func FuzzPolicy(f *testing.F) {
	f.Add("public", "10.0.0.0/8", "169.254.169.254")
	f.Add("private", "", "::ffff:127.0.0.1")
	f.Add("", "2001:db8::/32,1.2.3.4", "64:ff9b::a9fe:a9fe")
	f.Add("private", "fe80::/10", "fe80::1%eth0")
	f.Fuzz(func(t *testing.T, mode, denied, addr string) {
		var list []string
		if denied != "" {
			list = strings.Split(denied, ",")
		}
		p, err := New(mode, list)
		if err != nil {
			return
		}
		_ = p.CheckHost(addr)
		_ = p.Control("tcp", addr, nil)
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		priv, _ := New(ModePrivate, list)
		pub, _ := New(ModePublic, list)
		if pub.Check(a) == nil && priv.Check(a) != nil {
			t.Fatalf("%s: allowed in public mode, refused in private", a)
		}
		if u := a.Unmap(); u.IsUnspecified() || u.IsLinkLocalUnicast() || u.IsMulticast() {
			if p.Check(a) == nil {
				t.Fatalf("%s allowed by %q", a, mode)
			}
		}
	})
}

// BenchmarkCheck is the cost a push pays for the policy (one Check per
// dial, and per registration).
func BenchmarkCheck(b *testing.B) {
	p, _ := New(ModePublic, []string{"10.20.0.0/16"})
	addrs := []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2606:4700::1111"), netip.MustParseAddr("192.168.1.1")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = p.Check(addrs[i%len(addrs)])
	}
}
