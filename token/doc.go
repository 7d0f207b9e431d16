// Package token is the shared vocabulary of tokenlab: token serial numbers,
// device models, OATH algorithm specs, seeds, one-time codes (RFC 4226 HOTP,
// RFC 6238 TOTP) and otpauth:// key URIs. It does no I/O.
//
// A hardware token is named by a [Serial]; the serials tokenlab allocates look
// like the IAM documentation's GAHT12345678 (four letters, seven digits and a
// Luhn check digit), but any serial IAM accepts parses, so vendor serials import
// unchanged. A token's behaviour is its [Spec] (hash, digits, period) applied to
// its [Seed]:
//
//	spec := token.DefaultSpec                  // SHA1, 6 digits, 30 s
//	code := spec.TOTP(seed, time.Now())        // "287082"
//	key := token.Key{Type: token.TOTP, Issuer: "tokenlab", Account: "alice", Seed: seed, Spec: spec}
//	uri := key.URI()                           // otpauth://totp/tokenlab:alice?...
//
// A Seed never prints itself: its String and Format methods redact it, so a
// seed passed to a logger by mistake leaves no trace.
package token
