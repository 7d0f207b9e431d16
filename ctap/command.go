package ctap

import "fmt"

// Command is the first byte of a CTAP2 request carried by CTAPHID_CBOR
// (CTAP 2.1 §6 and §8.1 "Commands").
type Command byte

// CTAP2 commands, CTAP 2.1 §6.
const (
	CmdMakeCredential       Command = 0x01 // authenticatorMakeCredential, §6.1
	CmdGetAssertion         Command = 0x02 // authenticatorGetAssertion, §6.2
	CmdGetInfo              Command = 0x04 // authenticatorGetInfo, §6.4
	CmdClientPIN            Command = 0x06 // authenticatorClientPIN, §6.5
	CmdReset                Command = 0x07 // authenticatorReset, §6.6
	CmdGetNextAssertion     Command = 0x08 // authenticatorGetNextAssertion, §6.3
	CmdBioEnrollment        Command = 0x09 // authenticatorBioEnrollment, §6.7
	CmdCredentialManagement Command = 0x0A // authenticatorCredentialManagement, §6.8
	CmdSelection            Command = 0x0B // authenticatorSelection, §6.9
	CmdLargeBlobs           Command = 0x0C // authenticatorLargeBlobs, §6.10
	CmdConfig               Command = 0x0D // authenticatorConfig, §6.11

	// CmdCredentialManagementPreview is the vendor-range command byte of
	// credential management on keys built to the CTAP 2.1 preview
	// (getInfo option "credentialMgmtPreview" without "credMgmt").
	CmdCredentialManagementPreview Command = 0x41
)

func (c Command) String() string {
	switch c {
	case CmdMakeCredential:
		return "authenticatorMakeCredential"
	case CmdGetAssertion:
		return "authenticatorGetAssertion"
	case CmdGetInfo:
		return "authenticatorGetInfo"
	case CmdClientPIN:
		return "authenticatorClientPIN"
	case CmdReset:
		return "authenticatorReset"
	case CmdGetNextAssertion:
		return "authenticatorGetNextAssertion"
	case CmdBioEnrollment:
		return "authenticatorBioEnrollment"
	case CmdCredentialManagement:
		return "authenticatorCredentialManagement"
	case CmdSelection:
		return "authenticatorSelection"
	case CmdLargeBlobs:
		return "authenticatorLargeBlobs"
	case CmdConfig:
		return "authenticatorConfig"
	case CmdCredentialManagementPreview:
		return "authenticatorCredentialManagement(preview)"
	}
	return fmt.Sprintf("Command(0x%02x)", byte(c))
}
