// Package pskc reads and writes Portable Symmetric Key Container documents
// (RFC 6030), the XML files token vendors and verifiers exchange seeds in.
//
// Both directions stream: a [Writer] emits one KeyPackage per [Writer.Write]
// and never holds the document, and a [Reader] decodes one KeyPackage per
// [Reader.Next] with encoding/xml's token stream, so a file of a million
// tokens costs the memory of one.
//
// Three protections are supported on both sides (RFC 6030 §6):
//
//   - none: secrets as base64 in PlainValue (§6.0, figure 2);
//   - a pre-shared key (§6.1, figure 6): secrets under AES-CBC, each with a
//     ValueMAC computed with an HMAC key that travels encrypted in MACKey;
//   - a passphrase (§6.2, figure 7): the same, with the encryption key
//     derived by PBKDF2 (PKCS #5 v2.0) from the passphrase.
//
// The reader also decrypts AES-192/256-CBC and the AES key wrap of RFC 3394
// (kw-aes128/192/256); other ciphers (3DES, Camellia, RSA) are refused with
// [ErrUnsupported]. A ValueMAC is always checked before its value is
// decrypted; a mismatch is [ErrMAC], a wrong key usually shows as [ErrMAC]
// too, since the MAC key is decrypted with it.
//
// A flow:
//
//	w, _ := pskc.NewWriter(f, pskc.WriterOptions{PreSharedKey: psk})
//	w.Write(&pskc.Key{SerialNo: "GAHT00000017", Algorithm: pskc.TOTP, Secret: seed, ...})
//	w.Close()
//
//	r, _ := pskc.NewReader(f, pskc.ReaderOptions{PreSharedKey: psk})
//	for {
//		k, err := r.Next() // io.EOF at the end
//		...
//	}
package pskc
