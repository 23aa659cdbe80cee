package domain_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

func TestRegisterNode(t *testing.T) {
	mod := func(f func(s *domain.NodeSpec)) domain.NodeSpec {
		s := validNodeSpec()
		f(&s)
		return s
	}
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name  string
		id    string
		owner string
		spec  domain.NodeSpec
		err   error
	}{
		{"valid", nodeA, nodeOwn, validNodeSpec(), nil},
		{"minimal", nodeA, nodeOwn, domain.NodeSpec{Name: "n", IPAddress: "127.0.0.1", Port: 1}, nil},
		{"no id", "", nodeOwn, validNodeSpec(), domain.ErrInvalidArgument},
		{"no owner", nodeA, "", validNodeSpec(), domain.ErrInvalidArgument},

		{"empty name", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Name = "" }), domain.ErrInvalidArgument},
		{"blank name", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Name = " \t\n" }), domain.ErrInvalidArgument},
		{"name 256 bytes", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Name = strings.Repeat("n", 256) }), nil},
		{"name 257 bytes", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Name = strings.Repeat("n", 257) }), domain.ErrInvalidArgument},

		{"no address", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = "" }), domain.ErrInvalidArgument},
		{"ipv6", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = "2001:db8::1" }), nil},
		{"hostname", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = "gpu-7.rack2.example.com" }), nil},
		{"single label", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = "localhost" }), nil},
		{"bad characters", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = "not a host!" }), domain.ErrInvalidArgument},
		{"underscore", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = "my_host" }), domain.ErrInvalidArgument},
		{"empty label", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = "a..b" }), domain.ErrInvalidArgument},
		{"trailing dot", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = "host.example." }), domain.ErrInvalidArgument},
		{"host:port", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = "10.0.0.1:50052" }), domain.ErrInvalidArgument},
		{"label 63", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = strings.Repeat("a", 63) + ".io" }), nil},
		{"label 64", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = strings.Repeat("a", 64) + ".io" }), domain.ErrInvalidArgument},
		{"hostname 253", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = longHost(253) }), nil},
		{"hostname 254", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = longHost(254) }), domain.ErrInvalidArgument},

		{"port 0", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Port = 0 }), domain.ErrInvalidArgument},
		{"port -1", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Port = -1 }), domain.ErrInvalidArgument},
		{"port 1", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Port = 1 }), nil},
		{"port 65535", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Port = 65535 }), nil},
		{"port 65536", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Port = 65536 }), domain.ErrInvalidArgument},

		{"negative cpu cores", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.CPUCores = -1 }), domain.ErrInvalidArgument},
		{"negative ram total", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.RAMTotal = -1 }), domain.ErrInvalidArgument},
		{"negative ram available", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.RAMAvailable = -1 }), domain.ErrInvalidArgument},
		{"negative max model size", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.MaxModelSize = -1 }), domain.ErrInvalidArgument},

		{"compute score NaN", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.ComputeScore = nan }), domain.ErrInvalidArgument},
		{"compute score negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.ComputeScore = -1 }), domain.ErrInvalidArgument},
		{"staked Inf", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.StakedAmount = inf }), domain.ErrInvalidArgument},
		{"staked negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.StakedAmount = -1 }), domain.ErrInvalidArgument},

		{"price per hour NaN", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.PricePerHour = nan }), domain.ErrInvalidArgument},
		{"price per hour negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.PricePerHour = -0.5 }), domain.ErrInvalidArgument},
		{"price per hour Inf", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.PricePerHour = inf }), domain.ErrInvalidArgument},
		{"price per epoch NaN", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.PricePerEpoch = nan }), domain.ErrInvalidArgument},
		{"price per epoch negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.PricePerEpoch = -1 }), domain.ErrInvalidArgument},
		{"price per job NaN", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.PricePerJobBase = nan }), domain.ErrInvalidArgument},
		{"price per job negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.PricePerJobBase = -1 }), domain.ErrInvalidArgument},
		{"price per inference NaN", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.PricePerInference = nan }), domain.ErrInvalidArgument},
		{"price per inference -Inf", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.PricePerInference = math.Inf(-1) }), domain.ErrInvalidArgument},
		{"minimum charge NaN", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.MinimumCharge = nan }), domain.ErrInvalidArgument},
		{"minimum charge negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.MinimumCharge = -1 }), domain.ErrInvalidArgument},
		{"usd equivalent NaN", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.USDEquivalent = nan }), domain.ErrInvalidArgument},
		{"usd equivalent negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.USDEquivalent = -1 }), domain.ErrInvalidArgument},
		{"billing model -1", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.BillingModel = -1 }), domain.ErrInvalidArgument},
		{"billing model 3", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.BillingModel = 3 }), nil},
		{"billing model 4", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.BillingModel = 4 }), domain.ErrInvalidArgument},

		{"no devices", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices = nil }), nil},
		{"64 devices", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices = make([]domain.Device, 64) }), nil},
		{"65 devices", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices = make([]domain.Device, 65) }), domain.ErrInvalidArgument},
		{"device type -1", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].Type = -1 }), domain.ErrInvalidArgument},
		{"device type 6", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].Type = domain.DeviceVulkan + 1 }), domain.ErrInvalidArgument},
		{"device type vulkan", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].Type = domain.DeviceVulkan }), nil},
		{"device memory total negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].MemoryTotal = -1 }), domain.ErrInvalidArgument},
		{"device memory available negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].MemoryAvailable = -1 }), domain.ErrInvalidArgument},
		{"device vram total negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].VRAMTotal = -1 }), domain.ErrInvalidArgument},
		{"device vram available negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].VRAMAvailable = -1 }), domain.ErrInvalidArgument},
		{"device compute units negative", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].ComputeUnits = -1 }), domain.ErrInvalidArgument},
		{"device compute capability NaN", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].ComputeCapability = nan }), domain.ErrInvalidArgument},
		{"device compute capability Inf", nodeA, nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].ComputeCapability = inf }), domain.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.id != "" && tt.owner != "" {
				checkErr(t, tt.spec.Validate(), tt.err)
			}
			e, err := domain.RegisterNode(tt.id, tt.owner, tt.spec, t0)
			checkErr(t, err, tt.err)
			if tt.err != nil {
				return
			}
			want := domain.NodeRegistered{NodeID: tt.id, Owner: tt.owner, Spec: tt.spec, Reputation: domain.InitialReputation, At: t0}
			if !reflect.DeepEqual(e, want) {
				t.Fatalf("got %+v, want %+v", e, want)
			}
			n := foldNode(e)
			if !n.Exists() || n.ID() != tt.id || n.Owner() != tt.owner || !reflect.DeepEqual(n.Spec(), tt.spec) ||
				n.Reputation() != 0.5 || n.Online() || n.Banned() || len(n.ActiveJobs()) != 0 ||
				!n.RegisteredAt().Equal(t0) || n.Version() != 1 {
				t.Fatalf("folded node: %+v", n)
			}
		})
	}
	if domain.NodeStream(nodeA) != "node-"+nodeA {
		t.Errorf("NodeStream = %q", domain.NodeStream(nodeA))
	}
}

// longHost builds a valid host name of exactly n bytes.
func longHost(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		l := min(63, n-b.Len())
		b.WriteString(strings.Repeat("h", l))
	}
	s := b.String()
	if len(s) != n || strings.HasSuffix(s, ".") {
		panic("longHost")
	}
	return s
}

func TestNodeReregister(t *testing.T) {
	mod := func(f func(s *domain.NodeSpec)) domain.NodeSpec {
		s := validNodeSpec()
		f(&s)
		return s
	}
	tests := []struct {
		name  string
		owner string
		spec  domain.NodeSpec
		err   error
		event bool
	}{
		{"identical", nodeOwn, validNodeSpec(), nil, false},
		{"ram available only", nodeOwn, mod(func(s *domain.NodeSpec) { s.RAMAvailable = 1 }), nil, false},
		{"device memory available only", nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].MemoryAvailable = 7 }), nil, false},
		{"device vram available only", nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].VRAMAvailable = 0 }), nil, false},
		{"all availability at once", nodeOwn, mod(func(s *domain.NodeSpec) {
			s.RAMAvailable, s.Devices[0].MemoryAvailable, s.Devices[0].VRAMAvailable = 5, 6, 7
		}), nil, false},
		{"empty vs nil slices", nodeOwn, mod(func(s *domain.NodeSpec) { s.AvailableRuntimes = []string{"pytorch"}; s.PublicKey = []byte{0xde, 0xad} }), nil, false},

		{"other owner", stranger, validNodeSpec(), domain.ErrPermissionDenied, false},
		{"other owner with a change", stranger, mod(func(s *domain.NodeSpec) { s.Name = "evil" }), domain.ErrPermissionDenied, false},
		{"invalid spec", nodeOwn, mod(func(s *domain.NodeSpec) { s.Port = 0 }), domain.ErrInvalidArgument, false},

		{"name", nodeOwn, mod(func(s *domain.NodeSpec) { s.Name = "rig-2" }), nil, true},
		{"version", nodeOwn, mod(func(s *domain.NodeSpec) { s.Version = "1.2.4" }), nil, true},
		{"address", nodeOwn, mod(func(s *domain.NodeSpec) { s.IPAddress = "10.0.0.8" }), nil, true},
		{"port", nodeOwn, mod(func(s *domain.NodeSpec) { s.Port = 50053 }), nil, true},
		{"region", nodeOwn, mod(func(s *domain.NodeSpec) { s.Region = "us-east" }), nil, true},
		{"cpu cores", nodeOwn, mod(func(s *domain.NodeSpec) { s.CPUCores = 32 }), nil, true},
		{"ram total", nodeOwn, mod(func(s *domain.NodeSpec) { s.RAMTotal = 128 << 30 }), nil, true},
		{"compute score", nodeOwn, mod(func(s *domain.NodeSpec) { s.ComputeScore = 13 }), nil, true},
		{"staked", nodeOwn, mod(func(s *domain.NodeSpec) { s.StakedAmount = 101 }), nil, true},
		{"wallet", nodeOwn, mod(func(s *domain.NodeSpec) { s.WalletAddress = "Other" }), nil, true},
		{"formats", nodeOwn, mod(func(s *domain.NodeSpec) { s.SupportedFormats = append(s.SupportedFormats, "gguf") }), nil, true},
		{"max model size", nodeOwn, mod(func(s *domain.NodeSpec) { s.MaxModelSize = 2 }), nil, true},
		{"terminal access", nodeOwn, mod(func(s *domain.NodeSpec) { s.SupportsTerminalAccess = true }), nil, true},
		{"runtimes", nodeOwn, mod(func(s *domain.NodeSpec) { s.AvailableRuntimes = nil }), nil, true},
		{"pricing", nodeOwn, mod(func(s *domain.NodeSpec) { s.Pricing.PricePerHour = 0.5 }), nil, true},
		{"public key", nodeOwn, mod(func(s *domain.NodeSpec) { s.PublicKey = []byte{1} }), nil, true},
		{"device vram total", nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].VRAMTotal = 12 << 30 }), nil, true},
		{"device memory total", nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].MemoryTotal = 1 }), nil, true},
		{"device type", nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices[0].Type = domain.DeviceVulkan }), nil, true},
		{"device added", nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices = append(s.Devices, domain.Device{Type: domain.DeviceCPU}) }), nil, true},
		{"device removed", nodeOwn, mod(func(s *domain.NodeSpec) { s.Devices = nil }), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := foldNode(registered())
			events, err := n.Reregister(tt.owner, tt.spec, t1)
			checkErr(t, err, tt.err)
			if !tt.event {
				checkNames(t, events)
				return
			}
			checkNames(t, events, "NodeUpdated")
			u := events[0].(domain.NodeUpdated)
			if u.NodeID != nodeA || !u.At.Equal(t1) || !reflect.DeepEqual(u.Spec, tt.spec) {
				t.Fatalf("%+v", u)
			}
			n.Apply(u)
			if !reflect.DeepEqual(n.Spec(), tt.spec) || n.Owner() != nodeOwn || n.Reputation() != domain.InitialReputation {
				t.Fatalf("after fold: %+v", n.Spec())
			}
			// re-registering the same information again records nothing
			events, err = n.Reregister(nodeOwn, tt.spec, t2)
			checkErr(t, err, nil)
			checkNames(t, events)
		})
	}
	t.Run("not registered", func(t *testing.T) {
		_, err := (&domain.Node{}).Reregister(nodeOwn, validNodeSpec(), t1)
		checkErr(t, err, domain.ErrNotFound)
	})
}

func TestNodeOnlineOffline(t *testing.T) {
	n := &domain.Node{}
	if e := n.MarkOnline(t1); len(e) != 0 {
		t.Fatalf("unregistered MarkOnline: %v", names(e))
	}
	if e := n.MarkOffline("x", t1); len(e) != 0 {
		t.Fatalf("unregistered MarkOffline: %v", names(e))
	}

	n = foldNode(registered())
	steps := []struct {
		name   string
		do     func() []domain.Event
		want   []string
		online bool
	}{
		{"offline → offline", func() []domain.Event { return n.MarkOffline("lease expired", t1) }, nil, false},
		{"offline → online", func() []domain.Event { return n.MarkOnline(t1) }, []string{"NodeWentOnline"}, true},
		{"online → online", func() []domain.Event { return n.MarkOnline(t2) }, nil, true},
		{"online → offline", func() []domain.Event { return n.MarkOffline("lease expired", t2) }, []string{"NodeWentOffline"}, false},
		{"offline again", func() []domain.Event { return n.MarkOffline("lease expired", t3) }, nil, false},
		{"back online", func() []domain.Event { return n.MarkOnline(t3) }, []string{"NodeWentOnline"}, true},
	}
	for _, s := range steps {
		events := s.do()
		checkNames(t, events, s.want...)
		for _, e := range events {
			switch e := e.(type) {
			case domain.NodeWentOnline:
				if e.NodeID != nodeA || e.At.IsZero() {
					t.Errorf("%s: %+v", s.name, e)
				}
			case domain.NodeWentOffline:
				if e.NodeID != nodeA || e.Reason != "lease expired" || e.At.IsZero() {
					t.Errorf("%s: %+v", s.name, e)
				}
			}
			n.Apply(e)
		}
		if n.Online() != s.online {
			t.Fatalf("%s: online = %v, want %v", s.name, n.Online(), s.online)
		}
	}
}

func TestNodeReserve(t *testing.T) {
	online := domain.NodeWentOnline{NodeID: nodeA, At: t1}
	reserved := func(job string) domain.NodeJobReserved {
		return domain.NodeJobReserved{NodeID: nodeA, JobID: job, At: t1}
	}
	rep := func(score float64) domain.ReputationAdjusted {
		return domain.ReputationAdjusted{NodeID: nodeA, Delta: score - 0.5, Score: score, Reason: "r", At: t1}
	}
	tests := []struct {
		name    string
		events  []domain.Event
		job     string
		maxJobs int
		floor   float64
		err     error
		event   bool
	}{
		{"not registered", nil, "j1", 2, 0, domain.ErrNotFound, false},
		{"offline", []domain.Event{registered()}, "j1", 2, 0, domain.ErrFailedPrecondition, false},
		{"went offline", []domain.Event{registered(), online, domain.NodeWentOffline{NodeID: nodeA, At: t2}}, "j1", 2, 0, domain.ErrFailedPrecondition, false},
		{"banned", []domain.Event{registered(), online, domain.NodeBanned{NodeID: nodeA, By: "op", At: t1}}, "j1", 2, 0, domain.ErrFailedPrecondition, false},
		{"unbanned", []domain.Event{registered(), online, domain.NodeBanned{NodeID: nodeA, At: t1}, domain.NodeUnbanned{NodeID: nodeA, At: t2}}, "j1", 2, 0, nil, true},
		{"below floor", []domain.Event{registered(), online, rep(0.25)}, "j1", 2, 0.3, domain.ErrFailedPrecondition, false},
		{"at floor", []domain.Event{registered(), online}, "j1", 2, 0.5, nil, true},
		{"first slot", []domain.Event{registered(), online}, "j1", 2, 0, nil, true},
		{"last slot", []domain.Event{registered(), online, reserved("j0")}, "j1", 2, 0, nil, true},
		{"at capacity", []domain.Event{registered(), online, reserved("j0"), reserved("j1")}, "j2", 2, 0, domain.ErrResourceExhausted, false},
		{"zero capacity", []domain.Event{registered(), online}, "j1", 0, 0, domain.ErrResourceExhausted, false},
		{"already held", []domain.Event{registered(), online, reserved("j1")}, "j1", 2, 0, nil, false},
		{"already held at capacity", []domain.Event{registered(), online, reserved("j0"), reserved("j1")}, "j1", 2, 0, nil, false},
		{"already held while offline", []domain.Event{registered(), reserved("j1")}, "j1", 2, 0, nil, false},
		{"slot freed", []domain.Event{registered(), online, reserved("j0"), reserved("j1"),
			domain.NodeJobReleased{NodeID: nodeA, JobID: "j0", At: t2}}, "j2", 2, 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := foldNode(tt.events...)
			before := n.ActiveJobs()
			events, err := n.Reserve(tt.job, tt.maxJobs, tt.floor, t3)
			checkErr(t, err, tt.err)
			if errors.Is(tt.err, domain.ErrResourceExhausted) {
				var ce *domain.CapacityError
				if !errors.As(err, &ce) {
					t.Fatalf("error %T is not a *CapacityError", err)
				}
				if ce.NodeID != nodeA || ce.Active != len(before) || ce.Max != tt.maxJobs {
					t.Fatalf("CapacityError = %+v", ce)
				}
				if !strings.Contains(ce.Error(), nodeA) {
					t.Fatalf("message %q does not name the node", ce.Error())
				}
			}
			if !tt.event {
				checkNames(t, events)
				return
			}
			checkNames(t, events, "NodeJobReserved")
			if r := events[0].(domain.NodeJobReserved); r.NodeID != nodeA || r.JobID != tt.job || !r.At.Equal(t3) {
				t.Fatalf("%+v", r)
			}
			n.Apply(events[0])
			if !n.Holds(tt.job) || len(n.ActiveJobs()) != len(before)+1 || n.ActiveJobs()[len(before)] != tt.job {
				t.Fatalf("after fold: %v", n.ActiveJobs())
			}
		})
	}
}

func TestNodeRelease(t *testing.T) {
	base := []domain.Event{registered(), domain.NodeWentOnline{NodeID: nodeA, At: t1},
		domain.NodeJobReserved{NodeID: nodeA, JobID: "j0", At: t1},
		domain.NodeJobReserved{NodeID: nodeA, JobID: "j1", At: t1},
		domain.NodeJobReserved{NodeID: nodeA, JobID: "j2", At: t1}}
	tests := []struct {
		name string
		job  string
		want []string // active jobs after, nil: no event
	}{
		{"not held", "jX", nil},
		{"first", "j0", []string{"j1", "j2"}},
		{"middle", "j1", []string{"j0", "j2"}},
		{"last", "j2", []string{"j0", "j1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := foldNode(base...)
			events := n.Release(tt.job, "job completed", t2)
			if tt.want == nil {
				checkNames(t, events)
				return
			}
			checkNames(t, events, "NodeJobReleased")
			if r := events[0].(domain.NodeJobReleased); r.NodeID != nodeA || r.JobID != tt.job || r.Reason != "job completed" || !r.At.Equal(t2) {
				t.Fatalf("%+v", r)
			}
			n.Apply(events[0])
			if !reflect.DeepEqual(n.ActiveJobs(), tt.want) || n.Holds(tt.job) {
				t.Fatalf("active = %v, want %v", n.ActiveJobs(), tt.want)
			}
			if again := n.Release(tt.job, "again", t3); len(again) != 0 {
				t.Fatalf("second release: %v", names(again))
			}
		})
	}
	t.Run("not registered", func(t *testing.T) {
		if e := (&domain.Node{}).Release("j0", "", t1); len(e) != 0 {
			t.Fatalf("%v", names(e))
		}
	})
	t.Run("ActiveJobs is a copy", func(t *testing.T) {
		n := foldNode(base...)
		n.ActiveJobs()[0] = "mutated"
		if !n.Holds("j0") {
			t.Fatal("ActiveJobs aliases the aggregate")
		}
	})
}

func TestNodeAdjustReputation(t *testing.T) {
	at := func(score float64) []domain.Event {
		ev := []domain.Event{registered()}
		if score != domain.InitialReputation {
			ev = append(ev, domain.ReputationAdjusted{NodeID: nodeA, Delta: score - 0.5, Score: score, Reason: "seed", At: t1})
		}
		return ev
	}
	tests := []struct {
		name      string
		from      float64
		delta     float64
		err       error
		wantDelta float64 // recorded
		wantScore float64 // 0 with no event
		event     bool
	}{
		{"up", 0.5, 0.25, nil, 0.25, 0.75, true},
		{"down", 0.5, -0.25, nil, -0.25, 0.25, true},
		{"clamp high", 0.5, 1, nil, 0.5, 1, true},
		{"clamp low", 0.5, -2, nil, -0.5, 0, true},
		{"to exactly 1", 0.75, 0.25, nil, 0.25, 1, true},
		{"zero delta", 0.5, 0, nil, 0, 0, false},
		{"at 1, up", 1, 0.125, nil, 0, 0, false},
		{"at 0, down", 0, -0.125, nil, 0, 0, false},
		{"at 1, down", 1, -0.5, nil, -0.5, 0.5, true},
		{"NaN", 0.5, math.NaN(), domain.ErrInvalidArgument, 0, 0, false},
		{"+Inf", 0.5, math.Inf(1), domain.ErrInvalidArgument, 0, 0, false},
		{"-Inf", 0.5, math.Inf(-1), domain.ErrInvalidArgument, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := foldNode(at(tt.from)...)
			if n.Reputation() != tt.from {
				t.Fatalf("fixture reputation %v", n.Reputation())
			}
			events, err := n.AdjustReputation(tt.delta, "job completed", jobID, t2)
			checkErr(t, err, tt.err)
			if !tt.event {
				checkNames(t, events)
				return
			}
			checkNames(t, events, "ReputationAdjusted")
			want := domain.ReputationAdjusted{NodeID: nodeA, Delta: tt.wantDelta, Score: tt.wantScore,
				Reason: "job completed", JobID: jobID, At: t2}
			if !reflect.DeepEqual(events[0], want) {
				t.Fatalf("got %+v, want %+v", events[0], want)
			}
			n.Apply(events[0])
			if n.Reputation() != tt.wantScore {
				t.Fatalf("reputation = %v, want %v", n.Reputation(), tt.wantScore)
			}
		})
	}
	t.Run("not registered", func(t *testing.T) {
		_, err := (&domain.Node{}).AdjustReputation(0.1, "", "", t1)
		checkErr(t, err, domain.ErrNotFound)
	})
}

func TestNodeSampleMetrics(t *testing.T) {
	good := domain.MetricSample{CPUUsage: 0.5, GPUUsage: 0.75, MemoryUsage: 0.25, NetworkThroughput: 1e6,
		PowerConsumption: 350, ActiveJobs: 2, RAMAvailable: 1 << 30}
	mod := func(f func(s *domain.MetricSample)) domain.MetricSample {
		s := good
		f(&s)
		return s
	}
	tests := []struct {
		name string
		s    domain.MetricSample
		err  error
	}{
		{"valid", good, nil},
		{"zero", domain.MetricSample{}, nil},
		{"cpu NaN", mod(func(s *domain.MetricSample) { s.CPUUsage = math.NaN() }), domain.ErrInvalidArgument},
		{"cpu negative", mod(func(s *domain.MetricSample) { s.CPUUsage = -0.1 }), domain.ErrInvalidArgument},
		{"gpu Inf", mod(func(s *domain.MetricSample) { s.GPUUsage = math.Inf(1) }), domain.ErrInvalidArgument},
		{"gpu negative", mod(func(s *domain.MetricSample) { s.GPUUsage = -1 }), domain.ErrInvalidArgument},
		{"memory NaN", mod(func(s *domain.MetricSample) { s.MemoryUsage = math.NaN() }), domain.ErrInvalidArgument},
		{"memory negative", mod(func(s *domain.MetricSample) { s.MemoryUsage = -1 }), domain.ErrInvalidArgument},
		{"network -Inf", mod(func(s *domain.MetricSample) { s.NetworkThroughput = math.Inf(-1) }), domain.ErrInvalidArgument},
		{"network negative", mod(func(s *domain.MetricSample) { s.NetworkThroughput = -1 }), domain.ErrInvalidArgument},
		{"power NaN", mod(func(s *domain.MetricSample) { s.PowerConsumption = math.NaN() }), domain.ErrInvalidArgument},
		{"power negative", mod(func(s *domain.MetricSample) { s.PowerConsumption = -1 }), domain.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := foldNode(registered())
			events, err := n.SampleMetrics(tt.s, t2)
			checkErr(t, err, tt.err)
			if tt.err != nil {
				checkNames(t, events)
				return
			}
			checkNames(t, events, "NodeMetricsSampled")
			want := domain.NodeMetricsSampled{NodeID: nodeA, Sample: tt.s, At: t2}
			if !reflect.DeepEqual(events[0], want) {
				t.Fatalf("got %+v, want %+v", events[0], want)
			}
			v := n.Version()
			n.Apply(events[0])
			if n.Version() != v+1 {
				t.Fatalf("version %d", n.Version())
			}
		})
	}
	t.Run("not registered", func(t *testing.T) {
		_, err := (&domain.Node{}).SampleMetrics(good, t1)
		checkErr(t, err, domain.ErrNotFound)
	})
}

func TestNodeBanUnban(t *testing.T) {
	n := foldNode(registered())
	steps := []struct {
		name   string
		do     func() ([]domain.Event, error)
		want   []string
		banned bool
	}{
		{"unban when not banned", func() ([]domain.Event, error) { return n.Unban("op", t1) }, nil, false},
		{"ban", func() ([]domain.Event, error) { return n.Ban("op", "fraud", t1) }, []string{"NodeBanned"}, true},
		{"ban again", func() ([]domain.Event, error) { return n.Ban("op", "fraud", t2) }, nil, true},
		{"unban", func() ([]domain.Event, error) { return n.Unban("op", t2) }, []string{"NodeUnbanned"}, false},
		{"unban again", func() ([]domain.Event, error) { return n.Unban("op", t3) }, nil, false},
	}
	for _, s := range steps {
		events, err := s.do()
		checkErr(t, err, nil)
		checkNames(t, events, s.want...)
		for _, e := range events {
			switch e := e.(type) {
			case domain.NodeBanned:
				if e != (domain.NodeBanned{NodeID: nodeA, Reason: "fraud", By: "op", At: t1}) {
					t.Errorf("%s: %+v", s.name, e)
				}
			case domain.NodeUnbanned:
				if e != (domain.NodeUnbanned{NodeID: nodeA, By: "op", At: t2}) {
					t.Errorf("%s: %+v", s.name, e)
				}
			}
			n.Apply(e)
		}
		if n.Banned() != s.banned {
			t.Fatalf("%s: banned = %v, want %v", s.name, n.Banned(), s.banned)
		}
	}
	t.Run("not registered", func(t *testing.T) {
		_, err := (&domain.Node{}).Ban("op", "", t1)
		checkErr(t, err, domain.ErrNotFound)
		_, err = (&domain.Node{}).Unban("op", t1)
		checkErr(t, err, domain.ErrNotFound)
	})
}
