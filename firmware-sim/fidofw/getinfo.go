package fidofw

import (
	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// Extension identifiers this key supports (CTAP 2.1 §12.1, §12.5).
const (
	extCredProtect = "credProtect"
	extHMACSecret  = "hmac-secret"
)

// getInfo answers authenticatorGetInfo (CTAP 2.1 §6.4).
func (a *Authenticator) getInfo(body []byte) (any, error) {
	if len(body) != 0 {
		return nil, ctap.ErrInvalidLength // §6.4 takes no parameters
	}
	remaining := uint(maxResident - len(a.st.Resident))
	return &ctap.GetInfoResponse{
		Versions:   []string{ctap.VersionU2F, ctap.VersionFIDO20, ctap.VersionFIDO21},
		Extensions: []string{extCredProtect, extHMACSecret},
		AAGUID:     a.st.AAGUID,
		Options: map[string]bool{
			ctap.OptPlat:             false,
			ctap.OptRK:               true,
			ctap.OptUP:               true,
			ctap.OptClientPIN:        a.st.PINHash != nil,
			ctap.OptCredMgmt:         true,
			ctap.OptPinUvAuthToken:   true,
			ctap.OptMakeCredUvNotRqd: true,
		},
		MaxMsgSize:               ctaphid.MaxMessageSize,
		PinUvAuthProtocols:       []uint{2, 1},
		MaxCredentialCountInList: maxCredentialCountInLst,
		MaxCredentialIDLength:    maxCredentialIDLength,
		Transports:               []string{"usb"},
		Algorithms: []ctap.CredentialParam{
			{Type: ctap.CredentialTypePublicKey, Alg: cose.AlgES256},
			{Type: ctap.CredentialTypePublicKey, Alg: cose.AlgEdDSA},
		},
		MinPINLength:                     minPINLength,
		FirmwareVersion:                  VersionMajor<<16 | VersionMinor<<8 | VersionBuild,
		RemainingDiscoverableCredentials: &remaining,
	}, nil
}
