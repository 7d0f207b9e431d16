package verify

// The drift rule.
//
// A TOTP device's clock runs a little fast or slow, so the verifier keeps
// its offset from real time in steps (the drift) and looks for a code at
// the expected step (now + drift) ± Window. Enable and Resync set the
// drift from two consecutive codes. A successful check may nudge it, so
// that the verifier follows a crystal that gains or loses a few seconds a
// day, but the nudge is limited so that a run of codes from the future
// cannot walk the window forward (each acceptance moving it one step
// further, the next future code becoming valid, and so on):
//
//   - a nudge moves the drift by at most one step, towards where the
//     accepted code was in the window (never to it when that is further);
//   - a nudge happens only when the previous accepted code belongs to an
//     earlier real step than now.
//
// The previous code's real step is read from the stored state, with no
// extra column: Enable, Resync and every nudge store last_step and drift
// such that last_step − drift is the real step at which that code was
// accepted. An acceptance that does not nudge leaves last_step − drift one
// step off in the direction of its offset, which only errs on the safe side
// in the direction that matters: a code accepted one step early (the walk)
// makes last_step − drift point one step later, so the next nudge waits a
// step more. A code accepted one step late without a nudge makes it point
// one step earlier; that can allow one nudge in the same real step, but it
// is the first of that step, since a nudge leaves the exact value behind
// and after it no code above last_step sits one step late.
//
// So within one real step the drift moves by at most one step, and after
// Enable or Resync the window cannot move at all within the same step:
// enabled with the codes of steps T−1 and T, the code of T+1 is accepted
// and the code of T+2 refused until real time reaches T+1. Over longer
// spans the drift moves at most one step per real step, and only by
// accepting, at each step, the code for the edge of the window at that very
// moment. A fob used once in a while follows its crystal: each use sees its
// code at most one step from the stored drift and nudges it there.

// nudge returns the drift to store after accepting the code of step st at
// real step cur on d, under the drift rule above.
func nudge(d *DeviceRecord, cur, st int64) int64 {
	off := st - (cur + d.Drift)
	if off == 0 || int64(d.LastStep)-d.Drift >= cur {
		return d.Drift
	}
	if off > 0 {
		return d.Drift + 1
	}
	return d.Drift - 1
}
