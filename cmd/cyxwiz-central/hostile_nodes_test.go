package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// The hostile-client cases of issue 11 part B (deposits bound to their
// payer, node addresses, node bans): each attack is made over real
// loopback gRPC or HTTP with valid tokens, is refused with the documented
// code, and a containment check shows it changed nothing it must not.

// hostileCase is one attack: what the attacker does (the error it got),
// the code it must get, and what must still hold afterwards.
type hostileCase struct {
	name      string
	attack    func(t *testing.T) error
	want      codes.Code
	contained func(t *testing.T)
}

// runHostile runs each case against s; after each, s must still serve.
func runHostile(t *testing.T, s *testServer, cases []hostileCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := status.Code(c.attack(t)); got != c.want {
				t.Fatalf("attack answered %v, want %v", got, c.want)
			}
			if c.contained != nil {
				c.contained(t)
			}
			resp, err := healthpb.NewHealthClient(s.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("the server is not serving after the attack: %v, %v", resp.GetStatus(), err)
			}
		})
	}
}

// TestHostilePaidJobs: deposits are public on chain, so naming a payer's
// wallet must not let anyone else spend its deposit.
func TestHostilePaidJobs(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc)
	alice, mallory := newPayer(t, pc), newPayer(t, pc)
	dep := pc.deposit(alice, jobLamports)
	runHostile(t, s, []hostileCase{
		{
			name: "another user names the payer's wallet and deposit",
			attack: func(t *testing.T) error {
				_, err := s.jobs().SubmitJob(as(s.payerToken("mallory", mallory.address)), &pb.SubmitJobRequest{Config: paidJob(alice, dep)})
				return err
			},
			want: codes.PermissionDenied,
			contained: func(t *testing.T) {
				// The payer's own submission then works, funded by the deposit.
				jobID := s.submit(s.payerToken("alice", alice.address), paidJob(alice, dep))
				if p := s.payment(t, jobID); p.DepositSignature() != dep || p.Payer() != alice.address {
					t.Fatalf("alice's job is funded by %s from %s, want her deposit", p.DepositSignature(), p.Payer())
				}
			},
		},
		{
			name: "a paid job from a token without a wallet claim",
			attack: func(t *testing.T) error {
				_, err := s.jobs().SubmitJob(as(s.userToken("mallory")), &pb.SubmitJobRequest{Config: paidJob(alice, pc.deposit(alice, jobLamports))})
				return err
			},
			want: codes.PermissionDenied,
		},
		{
			name: "another user asks for the payer's unclaimed deposit back",
			attack: func(t *testing.T) error {
				sig := pc.deposit(alice, jobLamports)
				return restPost(t, s, "/api/deposits/"+sig+"/refund", s.payerToken("mallory", mallory.address), nil).err()
			},
			want: codes.PermissionDenied,
		},
	})
}

// TestHostileNodeAddresses: a node cannot make the server push (the job
// and its P2P token) to addresses inside the server's own network.
func TestHostileNodeAddresses(t *testing.T) {
	private := startServer(t, t.TempDir(), Settings{})
	public := startServer(t, t.TempDir(), Settings{}, func(c *config.Config) { c.Scheduler.NodeNetworks = "public" })
	register := func(s *testServer, ip string) func(t *testing.T) error {
		return func(t *testing.T) error {
			info := nodeInfo("evil", 50051, pb.DeviceType_DEVICE_CUDA, 24<<30)
			info.IpAddress = ip
			_, err := s.nodes().RegisterNode(as(s.userToken("mallory")), &pb.RegisterNodeRequest{Info: info})
			if err != nil && !strings.Contains(err.Error(), "info.ip_address") {
				t.Errorf("the refusal does not name the field: %v", err)
			}
			return err
		}
	}
	noNodes := func(s *testServer) func(t *testing.T) {
		return func(t *testing.T) {
			resp, err := s.discovery().ListNodes(as(s.userToken("alice")), &pb.ListNodesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(resp.GetNodes()); n != 0 {
				t.Fatalf("%d nodes registered after a refused registration", n)
			}
		}
	}
	var cases, publicCases []hostileCase
	for _, ip := range []string{"169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254", "169.254.10.1", "fe80::1", "0.0.0.0", "::", "224.0.0.251", "255.255.255.255"} {
		cases = append(cases, hostileCase{name: "register at " + ip, attack: register(private, ip), want: codes.InvalidArgument, contained: noNodes(private)})
	}
	for _, ip := range []string{"127.0.0.1", "localhost", "10.0.0.8", "192.168.1.1", "::1"} {
		publicCases = append(publicCases, hostileCase{name: "register at " + ip + " on a public server", attack: register(public, ip), want: codes.InvalidArgument, contained: noNodes(public)})
	}
	runHostile(t, private, cases)
	runHostile(t, public, publicCases)
}

// TestPublicServerDoesNotPushToANodeRegisteredBefore: a node recorded at a
// loopback address under the private default is never pushed to once the
// server runs with node_networks = "public": its assignment is rejected
// at once, naming the policy, without a dial.
func TestPublicServerDoesNotPushToANodeRegisteredBefore(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, Settings{})
	n := startNode(t, s, "ops", "alpha", pb.DeviceType_DEVICE_CUDA, 24<<30)
	s.stop()
	s = startServer(t, dir, Settings{}, func(c *config.Config) { c.Scheduler.NodeNetworks = "public" })
	n.srv = s
	n.heartbeat()
	jobID := s.submit(s.userToken("alice"), trainingJob())
	eventually(t, 10*time.Second, "the assignment rejected by the policy", func() bool {
		recs, err := s.app.store.ReadStream(context.Background(), domain.JobStream(jobID), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Type == "JobRejected" && strings.Contains(string(r.Data), "public") {
				return true
			}
		}
		return false
	})
	select {
	case a := <-n.assigned:
		t.Fatalf("the node got job %s pushed", a.GetJob().GetJobId())
	default:
	}
}

// TestRefusingOwnerCannotFailOthersJobs: a node owner who refuses another
// user's job every time it is pushed costs the job one retry, not all of
// them: with max_retries 1 the job does not fail, the refusing node is
// barred from it after its second refusal, and the job runs on the next
// node that comes. The first refusal counted; the second did not.
func TestRefusingOwnerCannotFailOthersJobs(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{}, func(c *config.Config) { c.Scheduler.MaxRetries = 1 })
	evil := startNode(t, s, "mallory", "evil", pb.DeviceType_DEVICE_CUDA, 24<<30)
	evil.setAccept(false, "not your job")
	evil.keepAlive(100 * time.Millisecond)
	alice := s.userToken("alice")
	jobID := s.submit(alice, trainingJob())
	var requeues []domain.JobRequeued
	eventually(t, 10*time.Second, "a second, uncounted refusal", func() bool {
		requeues = nil
		codec := commands.NewCodec()
		for _, r := range streamEvents(t, s, domain.JobStream(jobID)) {
			if r.Type == "JobRequeued" {
				v, err := codec.Decode(r.Type, r.Data)
				if err != nil {
					t.Fatal(err)
				}
				requeues = append(requeues, v.(domain.JobRequeued))
			}
		}
		return len(requeues) >= 2
	})
	if r := requeues[0]; r.Uncounted || r.Requeues != 1 || r.Owner != "mallory" {
		t.Fatalf("first refusal %+v, want counted against mallory", r)
	}
	if r := requeues[1]; !r.Uncounted || r.Requeues != 1 {
		t.Fatalf("second refusal %+v, want uncounted", r)
	}
	if st := s.jobStatus(alice, jobID).GetStatus().GetStatus(); st == pb.StatusCode_STATUS_FAILED {
		t.Fatal("the job failed: one owner's refusals spent its retries")
	}
	// Barred: the refusing node is not offered the job a third time.
	for len(evil.assigned) > 0 {
		<-evil.assigned
	}
	good := startNode(t, s, "ops", "good", pb.DeviceType_DEVICE_CUDA, 24<<30)
	good.keepAlive(100 * time.Millisecond)
	if a := good.waitAssignment(10 * time.Second); a.GetJob().GetJobId() != jobID {
		t.Fatalf("the honest node got %s, want %s", a.GetJob().GetJobId(), jobID)
	}
	if n := len(streamEventsOfType(t, s, domain.JobStream(jobID), "JobRejected")); n != 2 {
		t.Fatalf("%d refusals recorded, want 2 (the node is barred after its second)", n)
	}
	select {
	case a := <-evil.assigned:
		t.Fatalf("the barred node got the job again (%s)", a.GetJob().GetJobId())
	default:
	}
}

func streamEventsOfType(t *testing.T, s *testServer, stream, typ string) []eventstore.RecordedEvent {
	var out []eventstore.RecordedEvent
	for _, r := range streamEvents(t, s, stream) {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// streamEvents returns a stream's recorded events.
func streamEvents(t *testing.T, s *testServer, stream string) []eventstore.RecordedEvent {
	t.Helper()
	recs, err := s.app.store.ReadStream(context.Background(), stream, 0, 0)
	if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatal(err)
	}
	return recs
}

// lastOf returns the last event of that type in recs, or nil.
func lastOf(recs []eventstore.RecordedEvent, typ string) *eventstore.RecordedEvent {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Type == typ {
			return &recs[i]
		}
	}
	return nil
}

// TestOperatorBansAndDeletesNodes: only an admin can ban or delete a node
// (through `cyxwiz-central node`, over the REST API); a banned node's job
// goes back to the queue and elsewhere, and it gets no new job; a deleted
// node leaves discovery and lists while the log keeps it. Every decision
// is recorded with the operator as actor.
func TestOperatorBansAndDeletesNodes(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{})
	alpha := startNode(t, s, "mallory", "alpha", pb.DeviceType_DEVICE_CUDA, 24<<30)
	alpha.heartbeat()
	alice := s.userToken("alice")
	jobID := s.submit(alice, trainingJob())
	if a := alpha.waitAssignment(10 * time.Second); a.GetJob().GetJobId() != jobID {
		t.Fatalf("alpha got %s, want %s", a.GetJob().GetJobId(), jobID)
	}
	ban := "/api/admin/nodes/" + alpha.id + "/ban"
	operator, _, _ := s.iss.MintUser("op", "", rest.RoleOperator, time.Hour)
	runHostile(t, s, []hostileCase{
		{name: "the node's owner bans it", attack: func(t *testing.T) error { return restPost(t, s, ban, s.userToken("mallory"), nil).err() }, want: codes.PermissionDenied},
		{name: "an operator (not admin) deletes it", attack: func(t *testing.T) error {
			return restDo(t, s, http.MethodDelete, "/api/admin/nodes/"+alpha.id, operator, nil).err()
		}, want: codes.PermissionDenied},
		{name: "a node session bans it", attack: func(t *testing.T) error { return restPost(t, s, ban, alpha.session, nil).err() }, want: codes.PermissionDenied,
			contained: func(t *testing.T) {
				if lastOf(streamEvents(t, s, domain.NodeStream(alpha.id)), "NodeBanned") != nil {
					t.Fatal("a refused ban was recorded")
				}
			}},
	})

	api, admin := "http://"+s.app.RESTAddr(), s.adminToken("root")
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(append(args, "--api", api, "--token", admin), &out, &errOut); code != 0 {
			t.Fatalf("cyxwiz-central %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	if out := cli("node", "ban", alpha.id, "--reason", "refuses other users' jobs"); !strings.Contains(out, "banned=true") {
		t.Fatalf("node ban printed %q", out)
	}
	nodeRecs := streamEvents(t, s, domain.NodeStream(alpha.id))
	banned := lastOf(nodeRecs, "NodeBanned")
	if banned == nil || banned.Metadata.Actor != "user:root" || !strings.Contains(string(banned.Data), `"by":"root"`) {
		t.Fatalf("NodeBanned %+v, want it by root with root as actor", banned)
	}
	if lastOf(streamEvents(t, s, domain.JobStream(jobID)), "JobRequeued") == nil {
		t.Fatal("the banned node's job was not requeued")
	}
	// The job goes to another node; the banned one gets nothing new.
	beta := startNode(t, s, "ops", "beta", pb.DeviceType_DEVICE_CUDA, 24<<30)
	beta.heartbeat()
	if a := beta.waitAssignment(10 * time.Second); a.GetJob().GetJobId() != jobID {
		t.Fatalf("beta got %s, want the requeued %s", a.GetJob().GetJobId(), jobID)
	}
	alpha.heartbeat()
	second := s.submit(alice, trainingJob())
	if a := beta.waitAssignment(10 * time.Second); a.GetJob().GetJobId() != second {
		t.Fatalf("beta got %s, want %s", a.GetJob().GetJobId(), second)
	}
	select {
	case a := <-alpha.assigned:
		t.Fatalf("the banned node got job %s", a.GetJob().GetJobId())
	default:
	}

	cli("node", "unban", alpha.id)
	if lastOf(streamEvents(t, s, domain.NodeStream(alpha.id)), "NodeUnbanned") == nil {
		t.Fatal("no NodeUnbanned recorded")
	}
	if out := cli("node", "delete", alpha.id, "--reason", "abuse"); !strings.Contains(out, "deleted=true") {
		t.Fatalf("node delete printed %q", out)
	}
	list, err := s.discovery().ListNodes(as(alice), &pb.ListNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list.GetNodes() {
		if n.GetNodeId() == alpha.id {
			t.Fatal("the deleted node is still listed")
		}
	}
	if _, err := s.discovery().GetNodeInfo(as(alice), &pb.GetNodeInfoRequest{NodeId: alpha.id}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetNodeInfo(deleted) = %v, want NOT_FOUND", err)
	}
	if a := restDo(t, s, http.MethodGet, "/api/nodes/"+alpha.id, admin, nil); a.status != http.StatusNotFound {
		t.Fatalf("/api/nodes/{deleted} = %d", a.status)
	}
	// The log keeps it, and its history is still served.
	deleted := lastOf(streamEvents(t, s, domain.NodeStream(alpha.id)), "NodeDeleted")
	if deleted == nil || deleted.Metadata.Actor != "user:root" {
		t.Fatalf("NodeDeleted %+v, want it with root as actor", deleted)
	}
	if a := restDo(t, s, http.MethodGet, "/api/nodes/"+alpha.id+"/events", admin, nil); a.status != http.StatusOK || !strings.Contains(string(a.body), "NodeDeleted") {
		t.Fatalf("/api/nodes/{deleted}/events = %d %s", a.status, a.body)
	}
	// Its owner cannot bring it back under its id, nor may it be unbanned.
	info := nodeInfo("alpha", alpha.port, pb.DeviceType_DEVICE_CUDA, 24<<30)
	info.NodeId = alpha.id
	if _, err := s.nodes().RegisterNode(as(s.userToken("mallory")), &pb.RegisterNodeRequest{Info: info}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("re-registering a deleted node = %v, want FAILED_PRECONDITION", err)
	}
	if a := restPost(t, s, "/api/admin/nodes/"+alpha.id+"/unban", admin, nil); status.Code(a.err()) != codes.FailedPrecondition {
		t.Fatalf("unban a deleted node = %d %s", a.status, a.body)
	}
}

// restAnswer is an HTTP answer of the REST API.
type restAnswer struct {
	status int
	body   []byte
}

// err is the answer as a gRPC status of the same meaning (from the
// body's error code), so REST attacks fit hostileCase; nil for success.
func (a restAnswer) err() error {
	if a.status < 300 {
		return nil
	}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(a.body, &body)
	code, ok := map[string]codes.Code{
		rest.CodeInvalidArgument: codes.InvalidArgument, rest.CodeUnauthenticated: codes.Unauthenticated,
		rest.CodePermissionDenied: codes.PermissionDenied, rest.CodeNotFound: codes.NotFound,
		rest.CodeConflict: codes.AlreadyExists, rest.CodeFailedPrecondition: codes.FailedPrecondition,
		rest.CodeResourceExhausted: codes.ResourceExhausted, rest.CodeUnavailable: codes.Unavailable,
	}[body.Error.Code]
	if !ok {
		code = codes.Unknown
	}
	return status.Errorf(code, "HTTP %d: %s", a.status, a.body)
}

// restPost posts body (JSON; nil for none) with token to the server's REST
// API.
func restPost(t *testing.T, s *testServer, path, token string, body any) restAnswer {
	return restDo(t, s, http.MethodPost, path, token, body)
}

func restDo(t *testing.T, s *testServer, method, path, token string, body any) restAnswer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+s.app.RESTAddr()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return restAnswer{status: resp.StatusCode, body: b}
}

// adminToken is an admin's user token (the REST API's writes).
func (s *testServer) adminToken(sub string) string {
	tok, _, err := s.iss.MintUser(sub, "", rest.RoleAdmin, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}
