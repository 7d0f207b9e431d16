package fidofw

import (
	"bytes"

	"github.com/fxamacker/cbor/v2"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/pinuv"
)

// credMgmtWire is ctap.CredMgmtRequest as the device must read it: the
// pinUvAuthParam covers the subCommandParams bytes exactly as the host sent
// them (CTAP 2.1 §6.8.2), so they are kept raw and decoded afterwards.
type credMgmtWire struct {
	SubCommand        ctap.CredMgmtSubcommand `cbor:"1,keyasint"`
	SubCommandParams  cbor.RawMessage         `cbor:"2,keyasint,omitempty"`
	PinUvAuthProtocol uint                    `cbor:"3,keyasint,omitempty"`
	PinUvAuthParam    []byte                  `cbor:"4,keyasint,omitempty"`
}

// credentialManagement is authenticatorCredentialManagement (CTAP 2.1 §6.8).
func (a *Authenticator) credentialManagement(body []byte) (any, error) {
	var req credMgmtWire
	if err := decodeRequest(body, &req); err != nil {
		return nil, err
	}
	var params ctap.CredMgmtParams
	if req.SubCommandParams != nil {
		if err := decodeRequest(req.SubCommandParams, &params); err != nil {
			return nil, err
		}
	}
	switch req.SubCommand {
	case 0:
		return nil, ctap.ErrMissingParameter
	case ctap.CredMgmtEnumerateRPsGetNextRP:
		return a.nextRP()
	case ctap.CredMgmtEnumerateCredentialsGetNextCredential:
		return a.nextCredential()
	case ctap.CredMgmtGetCredsMetadata, ctap.CredMgmtEnumerateRPsBegin, ctap.CredMgmtEnumerateCredentialsBegin,
		ctap.CredMgmtDeleteCredential, ctap.CredMgmtUpdateUserInformation:
	default:
		return nil, ctap.ErrInvalidSubcommand
	}
	// §6.8.2 steps 3-5: the rest need a pinUvAuthToken with the cm
	// permission, over subCommand || subCommandParams.
	if req.PinUvAuthParam == nil {
		return nil, ctap.ErrPUATRequired
	}
	p, err := checkProtocol(req.PinUvAuthProtocol)
	if err != nil {
		return nil, err
	}
	msg := append([]byte{byte(req.SubCommand)}, req.SubCommandParams...)
	if err := a.verifyToken(p, req.PinUvAuthParam, msg, pinuv.PermCredentialManagement, ""); err != nil {
		return nil, err
	}
	// §6.8.2: a token bound to one RP may not list or count across RPs.
	if a.token.rpID != "" && (req.SubCommand == ctap.CredMgmtGetCredsMetadata || req.SubCommand == ctap.CredMgmtEnumerateRPsBegin) {
		return nil, ctap.ErrPINAuthInvalid
	}
	switch req.SubCommand {
	case ctap.CredMgmtGetCredsMetadata:
		n, left := uint(len(a.st.Resident)), uint(maxResident-len(a.st.Resident))
		return &ctap.CredMgmtResponse{ExistingResidentCredentialsCount: &n, MaxPossibleRemainingResidentCredentialsCount: &left}, nil
	case ctap.CredMgmtEnumerateRPsBegin:
		var hashes [][]byte
		for _, r := range a.st.Resident {
			seen := false
			for _, h := range hashes {
				if bytes.Equal(h, r.RPIDHash) {
					seen = true
				}
			}
			if !seen {
				hashes = append(hashes, r.RPIDHash)
			}
		}
		if len(hashes) == 0 {
			return nil, ctap.ErrNoCredentials
		}
		a.rpEnum = hashes
		resp, _ := a.nextRP()
		resp.TotalRPs = uint(len(hashes))
		return resp, nil
	case ctap.CredMgmtEnumerateCredentialsBegin:
		if params.RPIDHash == nil {
			return nil, ctap.ErrMissingParameter
		}
		idx := a.residentsFor(params.RPIDHash)
		if len(idx) == 0 {
			return nil, ctap.ErrNoCredentials
		}
		a.credEnum = idx
		resp, _ := a.nextCredential()
		resp.TotalCredentials = uint(len(idx))
		return resp, nil
	case ctap.CredMgmtDeleteCredential:
		i, err := a.residentParam(params.CredentialID)
		if err != nil {
			return nil, err
		}
		a.st.Resident = append(a.st.Resident[:i:i], a.st.Resident[i+1:]...)
		if err := a.persist(); err != nil {
			return nil, ctap.ErrOther
		}
		return nil, nil
	default: // CredMgmtUpdateUserInformation
		if params.User == nil {
			return nil, ctap.ErrMissingParameter
		}
		i, err := a.residentParam(params.CredentialID)
		if err != nil {
			return nil, err
		}
		r := &a.st.Resident[i]
		if !bytes.Equal(r.UserID, params.User.ID) {
			return nil, ctap.ErrInvalidParameter
		}
		r.UserName, r.DisplayName = params.User.Name, params.User.DisplayName
		if err := a.persist(); err != nil {
			return nil, ctap.ErrOther
		}
		return nil, nil
	}
}

// residentParam is the index of the resident credential that the
// credentialID parameter names: ErrMissingParameter without one,
// ErrNoCredentials when no resident credential has it.
func (a *Authenticator) residentParam(cred *ctap.CredentialDescriptor) (int, error) {
	if cred == nil {
		return -1, ctap.ErrMissingParameter
	}
	i := a.residentByID(cred.ID)
	if i < 0 {
		return -1, ctap.ErrNoCredentials
	}
	return i, nil
}

func (a *Authenticator) nextRP() (*ctap.CredMgmtResponse, error) {
	if len(a.rpEnum) == 0 {
		return nil, ctap.ErrNotAllowed
	}
	h := a.rpEnum[0]
	a.rpEnum = a.rpEnum[1:]
	for _, r := range a.st.Resident {
		if bytes.Equal(r.RPIDHash, h) {
			return &ctap.CredMgmtResponse{RP: &ctap.RPEntity{ID: r.RPID, Name: r.RPName}, RPIDHash: h}, nil
		}
	}
	return nil, ctap.ErrNotAllowed
}

func (a *Authenticator) nextCredential() (*ctap.CredMgmtResponse, error) {
	for len(a.credEnum) > 0 {
		i := a.credEnum[0]
		a.credEnum = a.credEnum[1:]
		if i >= len(a.st.Resident) {
			continue
		}
		r := a.st.Resident[i]
		var pk cose.Key
		if err := ctap.Unmarshal(r.PublicKey, &pk); err != nil {
			continue
		}
		cp := uint(r.CredProtect)
		if cp == 0 {
			cp = credProtectOptional
		}
		return &ctap.CredMgmtResponse{
			User:         &ctap.UserEntity{ID: r.UserID, Name: r.UserName, DisplayName: r.DisplayName},
			CredentialID: &ctap.CredentialDescriptor{Type: ctap.CredentialTypePublicKey, ID: r.ID},
			PublicKey:    &pk,
			CredProtect:  cp,
		}, nil
	}
	a.credEnum = nil
	return nil, ctap.ErrNotAllowed
}
