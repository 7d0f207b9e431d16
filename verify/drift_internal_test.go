package verify

import "testing"

func TestNudge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		drift   int64
		last    uint64 // last accepted step
		cur, st int64  // real step now, accepted step
		want    int64
	}{
		{"on the expected step", 2, 90, 100, 102, 2},
		{"one early, previous long ago", 2, 90, 100, 103, 3},
		{"one late, previous long ago", 2, 90, 100, 101, 1},
		{"one early, previous in the step before", 2, 101, 100, 103, 3},
		{"one early, previous in this step (enable)", 0, 100, 100, 101, 0},
		{"one early, previous one step early in the step before", 0, 100, 99, 100, 0},
		{"three early with a wide window: one step only", -1, 50, 100, 102, 0},
		{"three late with a wide window: one step only", 1, 50, 100, 98, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &DeviceRecord{Device: Device{Drift: tc.drift, LastStep: tc.last}}
			if got := nudge(d, tc.cur, tc.st); got != tc.want {
				t.Errorf("nudge(drift %d, last %d, now %d, accepted %d) = %d, want %d", tc.drift, tc.last, tc.cur, tc.st, got, tc.want)
			}
		})
	}
}

// A check scans the window from its centre outwards, the earlier side
// first: the order matchOne prefers among several matches.
func TestOffsetOrder(t *testing.T) {
	want := []int64{0, -1, 1, -2, 2, -3, 3}
	for i, w := range want {
		if got := offset(i); got != w {
			t.Errorf("offset(%d) = %d, want %d", i, got, w)
		}
	}
}
