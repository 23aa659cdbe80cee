package projections_test

import (
	"errors"
	"testing"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

func TestJobTokenRoundTrip(t *testing.T) {
	training := domain.JobTypeTraining
	tests := []struct {
		name      string
		issued    projections.JobFilter
		presented projections.JobFilter
		ok        bool
	}{
		{"same filter", projections.JobFilter{Owner: "a"}, projections.JobFilter{Owner: "a"}, true},
		{"another page size", projections.JobFilter{Owner: "a", PageSize: 3}, projections.JobFilter{Owner: "a", PageSize: 9}, true},
		{"statuses in another order", projections.JobFilter{Statuses: []domain.JobStatus{1, 2}},
			projections.JobFilter{Statuses: []domain.JobStatus{2, 1, 2}}, true},
		{"another owner", projections.JobFilter{Owner: "a"}, projections.JobFilter{Owner: "b"}, false},
		{"owner prefix", projections.JobFilter{Owner: "ab"}, projections.JobFilter{Owner: "a"}, false},
		{"a type added", projections.JobFilter{}, projections.JobFilter{Type: &training}, false},
		{"a status added", projections.JobFilter{}, projections.JobFilter{Statuses: projections.InProgress}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.presented.PageToken = projections.EncodeJobToken(tc.issued, 42)
			after, err := projections.DecodeJobToken(tc.presented)
			if tc.ok && (err != nil || after != 42) {
				t.Fatalf("DecodeJobToken = %d, %v; want 42", after, err)
			}
			if !tc.ok && !errors.Is(err, projections.ErrBadPageToken) {
				t.Fatalf("DecodeJobToken = %d, %v; want ErrBadPageToken", after, err)
			}
		})
	}
}

func TestNodeTokenRoundTrip(t *testing.T) {
	f := projections.NodeListFilter{Sort: projections.SortByAvailability, Descending: true, Region: "EU"}
	c := projections.NodeCursor{K1: 3, K2: 87.5, ID: "node-7"}
	g := f
	g.Region, g.PageSize = "eu", 5 // case and page size do not matter
	g.PageToken = projections.EncodeNodeToken(f, c)
	got, ok, err := projections.DecodeNodeToken(g)
	if err != nil || !ok || got != c {
		t.Fatalf("DecodeNodeToken = %+v, %v, %v", got, ok, err)
	}
	g.MaxPrice = 1
	if _, _, err := projections.DecodeNodeToken(g); !errors.Is(err, projections.ErrBadPageToken) {
		t.Fatalf("another filter: err %v", err)
	}
	jobs := projections.JobFilter{PageToken: projections.EncodeNodeToken(projections.NodeListFilter{}, c)}
	if _, err := projections.DecodeJobToken(jobs); !errors.Is(err, projections.ErrBadPageToken) {
		t.Fatalf("a node token for jobs: err %v", err)
	}
}

func FuzzDecodeTokens(f *testing.F) {
	f.Add(projections.EncodeJobToken(projections.JobFilter{}, 7))
	f.Add(projections.EncodeNodeToken(projections.NodeListFilter{}, projections.NodeCursor{ID: "x"}))
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		if _, err := projections.DecodeJobToken(projections.JobFilter{PageToken: token}); err != nil && !errors.Is(err, projections.ErrBadPageToken) {
			t.Fatalf("job token error %v does not wrap ErrBadPageToken", err)
		}
		if _, _, err := projections.DecodeNodeToken(projections.NodeListFilter{PageToken: token}); err != nil && !errors.Is(err, projections.ErrBadPageToken) {
			t.Fatalf("node token error %v does not wrap ErrBadPageToken", err)
		}
	})
}
