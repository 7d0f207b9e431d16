// Allocation counts differ under the race detector.

//go:build !race

package verify_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/seal"
)

// oneDeviceStore holds one user's enabled device, just enough for Check
// through the group commit: Batch runs fn at once on its Tx. Whatever
// else is called panics on the nil interfaces.
type oneDeviceStore struct {
	verify.Store
	tx oneDeviceTx
}

func (s *oneDeviceStore) Batch(ctx context.Context, fn func(verify.Tx) error) error {
	return fn(&s.tx)
}

func (s *oneDeviceStore) ReadsInBatch() bool { return true }

type oneDeviceTx struct {
	verify.Tx
	user   string
	dev    verify.DeviceRecord
	events int
}

func (tx *oneDeviceTx) UserDevice(ctx context.Context, user, id string) (string, *verify.DeviceRecord, error) {
	return tx.user, &tx.dev, nil
}

func (tx *oneDeviceTx) AdvanceStep(ctx context.Context, a verify.StepUpdate) (bool, error) {
	if a.User != tx.user || tx.dev.LastStep >= a.Above {
		return false, nil
	}
	tx.dev.LastStep, tx.dev.Drift = a.Step, a.Drift
	return true, nil
}

func (tx *oneDeviceTx) AppendAudit(ctx context.Context, e *verify.AuditEvent) error {
	tx.events++
	return nil
}

// TestCheckAllocsVerifier counts the allocations of an accepted Check in
// the verifier alone, over a store that costs none: opening the seed, one
// HMAC for the whole window scan, the batch's closure and results, the
// audit event. The ceiling is the count measured last, 6 (23 before the
// HMAC buffers, the matcher and the batch's results stopped allocating, 14
// before HOTP stopped using crypto/hmac and the matcher held its HOTPer by
// value), plus one: more than one new allocation per check fails.
func TestCheckAllocsVerifier(t *testing.T) {
	const ceiling = 7
	key, err := seal.NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New([]seal.Key{key}, key.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := token.DefaultSpec
	seed, err := token.GenerateSeed(rand.Reader, token.SHA1)
	if err != nil {
		t.Fatal(err)
	}
	const serial = "GAHT00000001"
	kid, sealed, err := sealer.Seal(seed, verify.SealAAD(verify.SealedSeed, serial))
	if err != nil {
		t.Fatal(err)
	}
	clk := hw.NewManualTime(t0)
	cur := spec.Step(t0)
	st := &oneDeviceStore{tx: oneDeviceTx{user: "alice", dev: verify.DeviceRecord{
		Device:     verify.Device{ID: serial, Kind: verify.KindHardware, State: verify.StateAssigned, User: "alice", Spec: spec, LastStep: cur},
		SealedSeed: sealed, KeyID: kid,
	}}}
	svc := verify.New(st, sealer, verify.Config{Now: clk.Now})
	ctx := verify.WithActor(context.Background(), verify.Actor{Name: "tester", Source: "test"})

	// Each check one step on, clock and code (see benchDevice).
	const runs = 100
	h := token.NewHOTPer(spec.Algorithm, spec.Digits, seed)
	codes := make([]string, runs+1)
	for i := range codes {
		codes[i] = string(h.Append(nil, cur+1+uint64(i)))
	}
	i, refused := 0, 0
	n := testing.AllocsPerRun(runs, func() {
		clk.Advance(30 * time.Second)
		dec, err := svc.Check(ctx, "alice", serial, codes[i])
		if err != nil || !dec.Accepted {
			refused++
		}
		i++
	})
	if refused > 0 || st.tx.events != runs+1 {
		t.Fatalf("%d of %d checks refused, %d audit events: the rig is broken", refused, runs+1, st.tx.events)
	}
	t.Logf("%.0f allocs/check", n)
	if n > ceiling {
		t.Errorf("%.0f allocations per accepted check in the verifier, over the ceiling of %d", n, ceiling)
	}
}
