// Package ctap is the host side of FIDO's Client to Authenticator Protocol
// (fidoalliance.org "Client to Authenticator Protocol (CTAP) v2.1"), and the
// wire vocabulary both sides share: CTAP2 command bytes ([Command]), every
// status code ([Status], [StatusError]), the CBOR request and response
// structures with their integer keys, authenticator data ([AuthData]) and
// CTAP2 canonical CBOR ([Marshal], [Unmarshal]). The device side
// (firmware-sim/fidofw) imports the same types.
//
// A [Client] speaks CTAP2 and CTAP1/U2F over a [Transport], which a
// CTAPHID channel is; the channel runs over any io.ReadWriter of 64-byte
// reports — USB HID, UDP or an in-process pipe:
//
//	conn, _ := udp.Dial(udp.DefaultDevice, "")      // or usbhid.Open(path), pipe.New()
//	ch, _ := ctaphid.NewDevice(conn).Open(ctx)      // INIT with a nonce check
//	c := ctap.NewClient(ch)
//	info, _ := c.GetInfo(ctx)
//	mc, _ := c.MakeCredential(ctx, req)
//	att, _ := ctap.VerifyAttestation(mc, clientDataHash, rpID)
//
// PINs go through [Client.SetPIN], [Client.ChangePIN] and
// [Client.PINToken], whose [Token] computes pinUvAuthParam for later
// requests. Sibling packages do one job each:
// [github.com/tokenlab/tokenlab/ctap/ctaphid] frames messages,
// [github.com/tokenlab/tokenlab/ctap/pinuv] is the PIN/UV auth protocol
// crypto, [github.com/tokenlab/tokenlab/ctap/cose] the COSE keys,
// [github.com/tokenlab/tokenlab/ctap/u2f] the CTAP1/U2F APDUs,
// [github.com/tokenlab/tokenlab/ctap/usbhid], [github.com/tokenlab/tokenlab/ctap/udp]
// and [github.com/tokenlab/tokenlab/ctap/pipe] the transports, and
// [github.com/tokenlab/tokenlab/ctap/battery] the conformance checks.
package ctap
