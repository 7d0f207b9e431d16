// Package ctap is the host side of FIDO's Client to Authenticator Protocol
// (CTAP 2.1, fidoalliance.org "Client to Authenticator Protocol (CTAP)
// v2.1"), and the wire vocabulary both sides share: CTAP2 command bytes
// ([Command]), every status code ([Status], [StatusError]), the CBOR
// request and response structures with their integer keys, authenticator
// data ([AuthData]) and CTAP2 canonical CBOR ([Marshal], [Unmarshal]).
//
// Sibling packages do one job each: [github.com/tokenlab/tokenlab/ctap/ctaphid]
// frames messages into 64-byte HID reports, [github.com/tokenlab/tokenlab/ctap/pinuv]
// is the PIN/UV auth protocol crypto, [github.com/tokenlab/tokenlab/ctap/cose]
// the COSE keys, and [github.com/tokenlab/tokenlab/ctap/u2f] the CTAP1/U2F APDUs.
// The device side (firmware-sim/fidofw) imports the same types.
package ctap
