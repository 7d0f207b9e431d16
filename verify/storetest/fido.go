package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// fido checks the FIDO credential records (verify.FIDOTx): a credential is
// a device of kind fido counted with the user's others, its id is unique,
// the signature counter moves only by compare-and-set, and deleting it
// deletes the device.
func fido(t *testing.T, open func(t *testing.T) verify.Store) {
	ctx := context.Background()
	s := open(t)
	ft := func(tx verify.Tx) verify.FIDOTx {
		f, ok := tx.(verify.FIDOTx)
		if !ok {
			t.Fatalf("%T does not implement verify.FIDOTx", tx)
		}
		return f
	}
	arn := "arn:aws:iam::123456789012:u2f/user/alice/key-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	cred := &verify.FIDOCredential{Device: arn, User: "alice", Name: "key", ID: []byte{1, 2, 3}, PublicKey: []byte{0xa5, 1},
		SignCount: 7, AAGUID: bytes.Repeat([]byte{0x42}, 16), Transports: []string{"usb", "nfc"}, Format: "packed", Flags: 0x05, CreatedAt: t0}
	update(t, s, func(tx verify.Tx) error {
		if err := tx.CreateUser(ctx, user("alice")); err != nil {
			return err
		}
		if err := tx.CreateDevice(ctx, device("GAHT00000001", "alice")); err != nil {
			return err
		}
		return ft(tx).CreateFIDO(ctx, cred)
	})
	dup := *cred
	dup.Device += "X"
	err := s.Update(ctx, func(tx verify.Tx) error { return ft(tx).CreateFIDO(ctx, &dup) })
	wantCode(t, err, verify.ECONFLICT)
	view(t, s, func(tx verify.Tx) error {
		n, err := tx.CountDevices(ctx, "alice")
		if err != nil || n != 2 {
			t.Errorf("CountDevices = %d, %v; want 2 (a token and a key)", n, err)
		}
		d, err := tx.Device(ctx, arn)
		if err != nil || d.Kind != verify.KindFIDO || d.State != verify.StateAssigned || d.User != "alice" {
			t.Errorf("Device(%s) = %+v, %v", arn, d, err)
		}
		cs, err := ft(tx).FIDOCredentials(ctx, "alice")
		if err != nil || len(cs) != 1 {
			t.Fatalf("FIDOCredentials = %v, %v", cs, err)
		}
		c := cs[0]
		if c.Device != arn || !bytes.Equal(c.ID, cred.ID) || !bytes.Equal(c.PublicKey, cred.PublicKey) || c.SignCount != 7 ||
			!bytes.Equal(c.AAGUID, cred.AAGUID) || len(c.Transports) != 2 || c.Format != "packed" || c.Flags != 0x05 || !c.CreatedAt.Equal(t0) || c.Name != "key" {
			t.Errorf("FIDOCredentials[0] = %+v", c)
		}
		return nil
	})
	now := t0.Add(time.Minute)
	update(t, s, func(tx verify.Tx) error {
		if ok, err := ft(tx).AdvanceSignCount(ctx, arn, 7, 9, now); err != nil || !ok {
			t.Errorf("AdvanceSignCount(7→9) = %v, %v", ok, err)
		}
		if ok, err := ft(tx).AdvanceSignCount(ctx, arn, 7, 8, now); err != nil || ok {
			t.Errorf("AdvanceSignCount from a stale 7 = %v, %v; want false", ok, err)
		}
		return nil
	})
	view(t, s, func(tx verify.Tx) error {
		cs, err := ft(tx).FIDOCredentials(ctx, "alice")
		if err != nil || len(cs) != 1 || cs[0].SignCount != 9 || !cs[0].LastUsedAt.Equal(now) {
			t.Errorf("after the counter moved: %+v, %v", cs, err)
		}
		return nil
	})
	update(t, s, func(tx verify.Tx) error { return ft(tx).DeleteFIDO(ctx, arn) })
	view(t, s, func(tx verify.Tx) error {
		_, err := tx.Device(ctx, arn)
		wantCode(t, err, verify.ENOTFOUND)
		cs, err := ft(tx).FIDOCredentials(ctx, "alice")
		if err != nil || len(cs) != 0 {
			t.Errorf("after DeleteFIDO: %v, %v", cs, err)
		}
		return nil
	})
	// The credential id is free again.
	update(t, s, func(tx verify.Tx) error { return ft(tx).CreateFIDO(ctx, cred) })
}
