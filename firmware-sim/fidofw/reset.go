package fidofw

import (
	"context"
	"io"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// reset is authenticatorReset (CTAP 2.1 §6.6): allowed only within
// ResetWindow of power-up (else CTAP2_ERR_NOT_ALLOWED) and after a touch.
// A new master key makes every key handle issued so far useless; PIN and
// discoverable credentials are erased. The attestation certificate, AAGUID
// and signature counter stay: they belong to the device, not to its owner.
func (a *Authenticator) reset(ctx context.Context, body []byte, status func(ctaphid.KeepaliveStatus)) error {
	if len(body) != 0 {
		return ctap.ErrInvalidLength
	}
	if a.clock.Now().Sub(a.bootTime) > ResetWindow {
		return ctap.ErrNotAllowed
	}
	if err := a.userPresence(ctx, status, PresenceRequest{Op: "reset"}); err != nil {
		return err
	}
	mk := make([]byte, 32)
	if _, err := io.ReadFull(a.rng, mk); err != nil {
		return ctap.ErrOther
	}
	a.st.MasterKey = mk
	a.st.PINHash, a.st.PINLength, a.st.PINRetries = nil, 0, maxPINRetries
	a.st.Resident = nil
	a.st.Counter = a.counter // keep counting upward after a reset
	if err := a.persist(); err != nil {
		return ctap.ErrOther
	}
	boot := a.bootTime
	if err := a.boot(); err != nil {
		return ctap.ErrOther
	}
	a.bootTime = boot
	return nil
}
