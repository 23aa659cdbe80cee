package postgres

import (
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore/internal/live"
)

func snap(t *testing.T, text string) snapshot {
	t.Helper()
	sn, err := parseSnapshot(text)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// TestHorizonAdvance replays observations and checks the horizon after
// each: it never covers a position a running transaction may hold.
func TestHorizonAdvance(t *testing.T) {
	type step struct {
		issued uint64
		snap   string
		own    uint64
		want   uint64
	}
	cases := map[string][]step{
		"nothing running": {{5, "100:100:", 100, 5}},
		"running in xip, then ended": {
			{5, "100:103:100,101", 103, 0},
			{5, "101:104:101", 104, 0},
			{7, "102:105:", 105, 7},
		},
		"running at or above xmax (not listed in xip)": {
			{5, "100:100:", 102, 0}, // 100 and 101 were assigned and may be running
			{5, "101:101:", 103, 0}, // 101 still may be
			{6, "102:102:", 104, 5}, // 100, 101 ended; 102, 103 may hold position 6
			{6, "104:104:", 105, 6},
		},
		"a later candidate resolving resolves the earlier": {
			{3, "100:102:100", 102, 0},
			{8, "100:105:100,103", 105, 0},
			{9, "106:106:", 107, 8}, // 106 may hold position 9
			{9, "107:107:", 107, 9},
		},
		"a long transaction holds everything after it": {
			{3, "50:60:50", 60, 0},
			{9, "50:70:50", 70, 0},
			{12, "50:80:50", 80, 0},
			{15, "81:81:", 81, 15},
		},
		"never backwards": {
			{5, "100:100:", 100, 5},
			{4, "100:100:", 100, 5},
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			h := &horizon{notifier: live.NewNotifier(0)}
			for i, s := range steps {
				got := h.advance(observation{issued: s.issued, sn: snap(t, s.snap), own: s.own}, time.Now())
				if got != s.want {
					t.Fatalf("step %d (%+v): horizon %d, want %d", i, s, got, s.want)
				}
			}
		})
	}
}

func TestParseSnapshot(t *testing.T) {
	sn := snap(t, "10:20:15,11,12")
	if sn.xmin != 10 || sn.xmax != 20 || len(sn.xip) != 3 || sn.xip[0] != 11 {
		t.Fatalf("%+v", sn)
	}
	for x, want := range map[uint64]bool{9: true, 10: true, 11: false, 13: true, 15: false, 19: true, 20: false, 30: false} {
		if sn.ended(x) != want {
			t.Errorf("ended(%d) = %v, want %v", x, !want, want)
		}
	}
	for _, bad := range []string{"", "1:2", "a:2:", "1:b:", "1:2:x"} {
		if _, err := parseSnapshot(bad); err == nil {
			t.Errorf("parseSnapshot(%q) accepted", bad)
		}
	}
}
