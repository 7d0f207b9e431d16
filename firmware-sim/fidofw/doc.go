// Package fidofw is the firmware of a simulated FIDO2 security key: a CTAP 2.1
// authenticator that runs against the simulated hardware of
// firmware-sim/hw (clock, flash, button, random source).
//
// The firmware has three layers, each usable on its own:
//
//   - [Authenticator] processes CTAP2 (CBOR) and CTAP1/U2F (APDU) requests:
//     authenticatorGetInfo, MakeCredential (packed attestation under a
//     per-device batch certificate), GetAssertion / GetNextAssertion,
//     ClientPIN (PIN/UV auth protocols 1 and 2), Reset, CredentialManagement
//     and Selection. Its whole state (master key, attestation keys, PIN,
//     resident credentials, signature counter) lives in a flash image, so a
//     key keeps its credentials across power cycles.
//   - [HID] is the device side of CTAPHID (CTAP 2.1 §11.2): it reassembles
//     64-byte reports into messages per channel, allocates channels, answers
//     PING, WINK, LOCK and CANCEL, sends KEEPALIVE while a request waits for
//     the user, and answers bad framing with the CTAPHID error codes.
//   - [Presence] is the user-presence policy (approve, deny, time out, ask
//     on a terminal), switchable at run time.
//
// Non-resident credential IDs are key handles: the credential's private key,
// sealed with AES-256-GCM under the device master key and bound to the
// relying party's rpIdHash, so the key stores nothing for them.
//
// A typical flow, as emulator.SecurityKey wires it:
//
//	a, _ := fidofw.New(fidofw.Config{Flash: flash, Presence: fidofw.Approve()})
//	h := fidofw.NewHID(a, send) // send gets each 64-byte output report
//	h.Receive(report)           // feed each 64-byte input report
package fidofw
