package commands

import (
	"fmt"
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

func TestPlaceable(t *testing.T) {
	tests := []struct {
		event domain.Event
		want  bool
	}{
		{domain.JobSubmitted{}, true},
		{domain.JobRequeued{}, true},
		{domain.NodeRegistered{}, true},
		{domain.NodeWentOnline{}, true},
		{domain.NodeUnbanned{}, true},
		{domain.NodeJobReleased{}, true},
		{domain.JobAssigned{}, false},
		{domain.JobCompleted{}, false},
		{domain.NodeWentOffline{}, false},
		{domain.NodeJobReserved{}, false},
	}
	for _, tc := range tests {
		if got := Placeable(tc.event); got != tc.want {
			t.Errorf("Placeable(%s) = %v, want %v", fmt.Sprintf("%T", tc.event), got, tc.want)
		}
	}
}
