package ctap

import (
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/pinuv"
)

// COSEKey is a COSE_Key public key; see package cose.
type COSEKey = cose.Key

// Permission is a pinUvAuthToken permission bit; see package pinuv.
type Permission = pinuv.Permission

// Credential types (WebAuthn Level 2 §5.10.2).
const CredentialTypePublicKey = "public-key"

// RPEntity is PublicKeyCredentialRpEntity (WebAuthn §5.4.2), a text-keyed map.
type RPEntity struct {
	ID   string `cbor:"id"`
	Name string `cbor:"name,omitempty"`
}

// UserEntity is PublicKeyCredentialUserEntity (WebAuthn §5.4.3).
type UserEntity struct {
	ID          []byte `cbor:"id"`
	Name        string `cbor:"name,omitempty"`
	DisplayName string `cbor:"displayName,omitempty"`
}

// CredentialParam is PublicKeyCredentialParameters (WebAuthn §5.3).
type CredentialParam struct {
	Type string   `cbor:"type"`
	Alg  cose.Alg `cbor:"alg"`
}

// CredentialDescriptor is PublicKeyCredentialDescriptor (WebAuthn §5.8.3).
type CredentialDescriptor struct {
	Type       string   `cbor:"type"`
	ID         []byte   `cbor:"id"`
	Transports []string `cbor:"transports,omitempty"`
}

// Options are the request options map (CTAP 2.1 §6.1.2 and §6.2.2): rk,
// up and uv. A nil field is absent from the map.
type Options struct {
	RK *bool `cbor:"rk,omitempty"`
	UP *bool `cbor:"up,omitempty"`
	UV *bool `cbor:"uv,omitempty"`
}

// Bool returns a pointer to b, for Options.
func Bool(b bool) *bool { return &b }

// GetInfoResponse is the authenticatorGetInfo response (CTAP 2.1 §6.4).
type GetInfoResponse struct {
	Versions                         []string          `cbor:"1,keyasint"`
	Extensions                       []string          `cbor:"2,keyasint,omitempty"`
	AAGUID                           []byte            `cbor:"3,keyasint"`
	Options                          map[string]bool   `cbor:"4,keyasint,omitempty"`
	MaxMsgSize                       uint              `cbor:"5,keyasint,omitempty"`
	PinUvAuthProtocols               []uint            `cbor:"6,keyasint,omitempty"`
	MaxCredentialCountInList         uint              `cbor:"7,keyasint,omitempty"`
	MaxCredentialIDLength            uint              `cbor:"8,keyasint,omitempty"`
	Transports                       []string          `cbor:"9,keyasint,omitempty"`
	Algorithms                       []CredentialParam `cbor:"10,keyasint,omitempty"`
	MaxSerializedLargeBlobArray      uint              `cbor:"11,keyasint,omitempty"`
	ForcePINChange                   bool              `cbor:"12,keyasint,omitempty"`
	MinPINLength                     uint              `cbor:"13,keyasint,omitempty"`
	FirmwareVersion                  uint              `cbor:"14,keyasint,omitempty"`
	MaxCredBlobLength                uint              `cbor:"15,keyasint,omitempty"`
	MaxRPIDsForSetMinPINLength       uint              `cbor:"16,keyasint,omitempty"`
	PreferredPlatformUvAttempts      uint              `cbor:"17,keyasint,omitempty"`
	UvModality                       uint              `cbor:"18,keyasint,omitempty"`
	Certifications                   map[string]uint   `cbor:"19,keyasint,omitempty"`
	RemainingDiscoverableCredentials *uint             `cbor:"20,keyasint,omitempty"`
}

// Versions strings of GetInfo (CTAP 2.1 §6.4).
const (
	VersionU2F    = "U2F_V2"
	VersionFIDO20 = "FIDO_2_0"
	VersionFIDO21 = "FIDO_2_1"
)

// Option names of GetInfo (CTAP 2.1 §6.4).
const (
	OptPlat             = "plat"
	OptRK               = "rk"
	OptClientPIN        = "clientPin"
	OptUP               = "up"
	OptUV               = "uv"
	OptPinUvAuthToken   = "pinUvAuthToken"
	OptCredMgmt         = "credMgmt"
	OptCredMgmtPre      = "credentialMgmtPreview"
	OptMakeCredUvNotRqd = "makeCredUvNotRqd"
)

// MakeCredentialRequest is authenticatorMakeCredential's parameters
// (CTAP 2.1 §6.1).
type MakeCredentialRequest struct {
	ClientDataHash        []byte                 `cbor:"1,keyasint"`
	RP                    RPEntity               `cbor:"2,keyasint"`
	User                  UserEntity             `cbor:"3,keyasint"`
	PubKeyCredParams      []CredentialParam      `cbor:"4,keyasint"`
	ExcludeList           []CredentialDescriptor `cbor:"5,keyasint,omitempty"`
	Extensions            map[string]any         `cbor:"6,keyasint,omitempty"`
	Options               *Options               `cbor:"7,keyasint,omitempty"`
	PinUvAuthParam        []byte                 `cbor:"8,keyasint,omitempty"`
	PinUvAuthProtocol     uint                   `cbor:"9,keyasint,omitempty"`
	EnterpriseAttestation uint                   `cbor:"10,keyasint,omitempty"`
}

// MakeCredentialResponse is the attestation object (CTAP 2.1 §6.1.2).
type MakeCredentialResponse struct {
	Fmt          string         `cbor:"1,keyasint"`
	AuthData     []byte         `cbor:"2,keyasint"`
	AttStmt      map[string]any `cbor:"3,keyasint"`
	EpAtt        bool           `cbor:"4,keyasint,omitempty"`
	LargeBlobKey []byte         `cbor:"5,keyasint,omitempty"`
}

// Attestation statement formats (WebAuthn §8).
const (
	FmtPacked  = "packed"
	FmtFIDOU2F = "fido-u2f"
	FmtNone    = "none"
)

// GetAssertionRequest is authenticatorGetAssertion's parameters (CTAP 2.1 §6.2).
type GetAssertionRequest struct {
	RPID              string                 `cbor:"1,keyasint"`
	ClientDataHash    []byte                 `cbor:"2,keyasint"`
	AllowList         []CredentialDescriptor `cbor:"3,keyasint,omitempty"`
	Extensions        map[string]any         `cbor:"4,keyasint,omitempty"`
	Options           *Options               `cbor:"5,keyasint,omitempty"`
	PinUvAuthParam    []byte                 `cbor:"6,keyasint,omitempty"`
	PinUvAuthProtocol uint                   `cbor:"7,keyasint,omitempty"`
}

// GetAssertionResponse is the response of authenticatorGetAssertion and
// authenticatorGetNextAssertion (CTAP 2.1 §6.2.2).
type GetAssertionResponse struct {
	Credential          *CredentialDescriptor `cbor:"1,keyasint,omitempty"`
	AuthData            []byte                `cbor:"2,keyasint"`
	Signature           []byte                `cbor:"3,keyasint"`
	User                *UserEntity           `cbor:"4,keyasint,omitempty"`
	NumberOfCredentials uint                  `cbor:"5,keyasint,omitempty"`
	UserSelected        bool                  `cbor:"6,keyasint,omitempty"`
	LargeBlobKey        []byte                `cbor:"7,keyasint,omitempty"`
}

// PINSubcommand is authenticatorClientPIN's subCommand (CTAP 2.1 §6.5.5).
type PINSubcommand uint

const (
	PINGetRetries                        PINSubcommand = 0x01 // getPINRetries
	PINGetKeyAgreement                   PINSubcommand = 0x02 // getKeyAgreement
	PINSet                               PINSubcommand = 0x03 // setPIN
	PINChange                            PINSubcommand = 0x04 // changePIN
	PINGetToken                          PINSubcommand = 0x05 // getPINToken (superseded)
	PINGetUVTokenUsingUvWithPermissions  PINSubcommand = 0x06 // getPinUvAuthTokenUsingUvWithPermissions
	PINGetUVRetries                      PINSubcommand = 0x07 // getUVRetries
	PINGetUVTokenUsingPINWithPermissions PINSubcommand = 0x09 // getPinUvAuthTokenUsingPinWithPermissions
)

// ClientPINRequest is authenticatorClientPIN's parameters (CTAP 2.1 §6.5.5.1).
type ClientPINRequest struct {
	PinUvAuthProtocol uint          `cbor:"1,keyasint,omitempty"`
	SubCommand        PINSubcommand `cbor:"2,keyasint"`
	KeyAgreement      *COSEKey      `cbor:"3,keyasint,omitempty"`
	PinUvAuthParam    []byte        `cbor:"4,keyasint,omitempty"`
	NewPINEnc         []byte        `cbor:"5,keyasint,omitempty"`
	PINHashEnc        []byte        `cbor:"6,keyasint,omitempty"`
	Permissions       Permission    `cbor:"9,keyasint,omitempty"`
	RPID              string        `cbor:"10,keyasint,omitempty"`
}

// ClientPINResponse is authenticatorClientPIN's response (CTAP 2.1 §6.5.5.2).
type ClientPINResponse struct {
	KeyAgreement    *COSEKey `cbor:"1,keyasint,omitempty"`
	PinUvAuthToken  []byte   `cbor:"2,keyasint,omitempty"`
	PINRetries      *uint    `cbor:"3,keyasint,omitempty"`
	PowerCycleState *bool    `cbor:"4,keyasint,omitempty"`
	UVRetries       *uint    `cbor:"5,keyasint,omitempty"`
}

// CredMgmtSubcommand is authenticatorCredentialManagement's subCommand
// (CTAP 2.1 §6.8).
type CredMgmtSubcommand uint

const (
	CredMgmtGetCredsMetadata                      CredMgmtSubcommand = 0x01 // getCredsMetadata
	CredMgmtEnumerateRPsBegin                     CredMgmtSubcommand = 0x02 // enumerateRPsBegin
	CredMgmtEnumerateRPsGetNextRP                 CredMgmtSubcommand = 0x03 // enumerateRPsGetNextRP
	CredMgmtEnumerateCredentialsBegin             CredMgmtSubcommand = 0x04 // enumerateCredentialsBegin
	CredMgmtEnumerateCredentialsGetNextCredential CredMgmtSubcommand = 0x05 // enumerateCredentialsGetNextCredential
	CredMgmtDeleteCredential                      CredMgmtSubcommand = 0x06 // deleteCredential
	CredMgmtUpdateUserInformation                 CredMgmtSubcommand = 0x07 // updateUserInformation
)

// CredMgmtParams is subCommandParams (CTAP 2.1 §6.8). pinUvAuthParam of a
// subcommand is authenticate(token, subCommand || CBOR(subCommandParams)).
type CredMgmtParams struct {
	RPIDHash     []byte                `cbor:"1,keyasint,omitempty"`
	CredentialID *CredentialDescriptor `cbor:"2,keyasint,omitempty"`
	User         *UserEntity           `cbor:"3,keyasint,omitempty"`
}

// CredMgmtRequest is authenticatorCredentialManagement's parameters (CTAP 2.1 §6.8).
type CredMgmtRequest struct {
	SubCommand        CredMgmtSubcommand `cbor:"1,keyasint"`
	SubCommandParams  *CredMgmtParams    `cbor:"2,keyasint,omitempty"`
	PinUvAuthProtocol uint               `cbor:"3,keyasint,omitempty"`
	PinUvAuthParam    []byte             `cbor:"4,keyasint,omitempty"`
}

// CredMgmtResponse is authenticatorCredentialManagement's response (CTAP 2.1 §6.8).
type CredMgmtResponse struct {
	ExistingResidentCredentialsCount             *uint                 `cbor:"1,keyasint,omitempty"`
	MaxPossibleRemainingResidentCredentialsCount *uint                 `cbor:"2,keyasint,omitempty"`
	RP                                           *RPEntity             `cbor:"3,keyasint,omitempty"`
	RPIDHash                                     []byte                `cbor:"4,keyasint,omitempty"`
	TotalRPs                                     uint                  `cbor:"5,keyasint,omitempty"`
	User                                         *UserEntity           `cbor:"6,keyasint,omitempty"`
	CredentialID                                 *CredentialDescriptor `cbor:"7,keyasint,omitempty"`
	PublicKey                                    *COSEKey              `cbor:"8,keyasint,omitempty"`
	TotalCredentials                             uint                  `cbor:"9,keyasint,omitempty"`
	CredProtect                                  uint                  `cbor:"10,keyasint,omitempty"`
	LargeBlobKey                                 []byte                `cbor:"11,keyasint,omitempty"`
}
