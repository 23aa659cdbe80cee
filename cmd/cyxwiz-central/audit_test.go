package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
)

func TestAuditPrintsHistory(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, Settings{})
	node, _, jobID := s.jobOnNode(t)
	// As a node does: accept (the push's answer may land first; either way one JobAccepted), start, finish.
	if _, err := s.nodes().NotifyJobAccepted(as(node.session), &pb.JobAcceptedRequest{NodeId: node.id, JobId: jobID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.status().ReportJobResult(as(node.session), &pb.ReportJobResultRequest{NodeId: node.id, JobId: jobID,
		FinalStatus: pb.StatusCode_STATUS_SUCCESS}); err != nil {
		t.Fatal(err)
	}
	s.stop()
	t.Setenv("CYXWIZ_EVENTSTORE_DATA_DIR", dir)
	t.Setenv("CYXWIZ_JWT_SECRET", testSecret)

	var out, errOut bytes.Buffer
	if err := auditCmd([]string{"job", jobID, "--json"}, &out, &errOut); err != nil {
		t.Fatalf("audit --json: %v (%s)", err, errOut.String())
	}
	var entries []auditEntry
	if err := json.Unmarshal(out.Bytes(), &entries); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Event)
	}
	if got := strings.Join(names, ","); got != "JobSubmitted,JobAssigned,JobAccepted,JobStarted,JobCompleted" {
		t.Fatalf("history %s", got)
	}
	if entries[0].Actor != "user:alice" || entries[4].Actor != "node:"+node.id || entries[0].Corr == "" {
		t.Fatalf("metadata not kept: %+v / %+v", entries[0], entries[4])
	}

	out.Reset()
	if err := auditCmd([]string{"node", node.id}, &out, &errOut); err != nil {
		t.Fatalf("audit node: %v (%s)", err, errOut.String())
	}
	for _, want := range []string{"NodeRegistered", `"alpha" owned by ops`, "NodeJobReserved", "NodeJobReleased", "reason=completed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("audit node output lacks %q:\n%s", want, out.String())
		}
	}
	if err := auditCmd([]string{"job", "not-a-uuid"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "UUID") {
		t.Fatalf("bad id: %v", err)
	}
}
