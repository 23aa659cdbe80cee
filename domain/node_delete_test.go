package domain

import (
	"errors"
	"testing"
	"time"
)

func TestNodeDelete(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	reg := NodeRegistered{NodeID: "n", Owner: "o", Spec: NodeSpec{Name: "n", IPAddress: "127.0.0.1", Port: 1}, At: at}
	fold := func(events ...Event) *Node {
		n := &Node{}
		for _, e := range events {
			n.Apply(e)
		}
		return n
	}
	deleted := NodeDeleted{NodeID: "n", By: "root", At: at}
	for _, c := range []struct {
		name   string
		n      *Node
		decide func(*Node) ([]Event, error)
		events int
		err    error
	}{
		{"a free node is deleted", fold(reg), func(n *Node) ([]Event, error) { return n.Delete("root", "abuse", at) }, 1, nil},
		{"not one holding a job", fold(reg, NodeJobReserved{NodeID: "n", JobID: "j"}), func(n *Node) ([]Event, error) { return n.Delete("root", "", at) }, 0, ErrFailedPrecondition},
		{"deleting again records nothing", fold(reg, deleted), func(n *Node) ([]Event, error) { return n.Delete("root", "", at) }, 0, nil},
		{"an unknown node", fold(), func(n *Node) ([]Event, error) { return n.Delete("root", "", at) }, 0, ErrNotFound},
		{"a deleted node is not unbanned", fold(reg, deleted), func(n *Node) ([]Event, error) { return n.Unban("root", at) }, 0, ErrFailedPrecondition},
		{"nor re-registered", fold(reg, deleted), func(n *Node) ([]Event, error) { return n.Reregister("o", reg.Spec, at) }, 0, ErrFailedPrecondition},
		{"nor reserved", fold(reg, NodeWentOnline{NodeID: "n"}, deleted), func(n *Node) ([]Event, error) { return n.Reserve("j", 5, 0, at) }, 0, ErrFailedPrecondition},
		{"nor brought online", fold(reg, deleted), func(n *Node) ([]Event, error) { return n.MarkOnline(at), nil }, 0, nil},
		{"its reputation stays", fold(reg, deleted), func(n *Node) ([]Event, error) { return n.AdjustReputation(-0.1, "x", "", at) }, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			events, err := c.decide(c.n)
			if len(events) != c.events || (c.err == nil) != (err == nil) || (c.err != nil && !errors.Is(err, c.err)) {
				t.Fatalf("= %d events, %v; want %d, %v", len(events), err, c.events, c.err)
			}
		})
	}
}
