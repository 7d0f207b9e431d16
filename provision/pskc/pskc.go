package pskc

import (
	"errors"
	"time"
)

// XML namespaces of RFC 6030 §4 and the specifications it builds on.
const (
	NSPSKC   = "urn:ietf:params:xml:ns:keyprov:pskc"
	NSDSig   = "http://www.w3.org/2000/09/xmldsig#"
	NSXEnc   = "http://www.w3.org/2001/04/xmlenc#"
	NSXEnc11 = "http://www.w3.org/2009/xmlenc11#"
	NSPKCS5  = "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#"
)

// Key algorithm URNs (RFC 6030 §10.3 and the IANA registry it creates).
const (
	HOTP = "urn:ietf:params:xml:ns:keyprov:pskc:hotp" // RFC 4226
	TOTP = "urn:ietf:params:xml:ns:keyprov:pskc:totp" // RFC 6238
	PIN  = "urn:ietf:params:xml:ns:keyprov:pskc:pin"  // a PIN referenced by PINPolicy/@PINKeyId
)

// Encryption, MAC and key derivation algorithm URIs (XML Encryption,
// XML Signature, RFC 6931, PKCS #5 v2.0).
const (
	AES128CBC  = NSXEnc + "aes128-cbc"
	AES192CBC  = NSXEnc + "aes192-cbc"
	AES256CBC  = NSXEnc + "aes256-cbc"
	KWAES128   = NSXEnc + "kw-aes128"
	KWAES192   = NSXEnc + "kw-aes192"
	KWAES256   = NSXEnc + "kw-aes256"
	HMACSHA1   = NSDSig + "hmac-sha1"
	HMACSHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
	PBKDF2     = NSPKCS5 + "pbkdf2"
)

var (
	// ErrFormat is matched by errors about a document that is not
	// well-formed XML or not a PSKC KeyContainer of version 1.0, and by
	// malformed values (a non-integer where RFC 6030 wants one, bad base64).
	ErrFormat = errors.New("pskc: malformed document")
	// ErrUnsupported is matched by errors about an algorithm this package
	// does not implement or does not know.
	ErrUnsupported = errors.New("pskc: unsupported algorithm")
	// ErrKeyRequired is returned when a document is encrypted and no
	// pre-shared key or passphrase was given (or the wrong kind was).
	ErrKeyRequired = errors.New("pskc: document is encrypted; a key or passphrase is needed")
	// ErrMAC is returned when a ValueMAC does not match: the value was
	// tampered with, or the key or passphrase is wrong.
	ErrMAC = errors.New("pskc: MAC check failed (wrong key or passphrase, or tampered value)")
	// ErrDecrypt is returned when a value does not decrypt (bad padding or
	// length, failed key unwrap): usually a wrong key.
	ErrDecrypt = errors.New("pskc: decryption failed (wrong key or passphrase?)")
)

// Key is one KeyPackage: a device, and the key it holds (RFC 6030 §4.1-4.3).
// Only the fields tokenlab uses or shows are kept; the reader skips the rest.
type Key struct {
	// DeviceInfo (RFC 6030 §4.3.1).
	Manufacturer string
	SerialNo     string
	Model        string
	IssueNo      string
	DeviceUserID string

	// Key attributes and children (§4.3.2 and §4.3.4).
	ID           string // Key/@Id; the writer uses SerialNo when empty
	Algorithm    string // Key/@Algorithm, an URN such as [TOTP]
	Issuer       string
	FriendlyName string
	UserID       string

	// AlgorithmParameters (§4.3.4).
	Suite            string // e.g. HMAC-SHA256
	ResponseLength   int    // ResponseFormat/@Length: digits of a code
	ResponseEncoding string // ResponseFormat/@Encoding: DECIMAL, HEXADECIMAL, ALPHANUMERIC...
	ResponseCheck    bool   // ResponseFormat/@CheckDigits

	// Data (§4.3.5). Integers absent from the document are nil.
	Secret       []byte
	Counter      *uint64
	Time         *uint64
	TimeInterval *uint64 // seconds
	TimeDrift    *uint64

	// Policy (§5).
	StartDate            time.Time
	ExpiryDate           time.Time
	KeyUsage             []string
	NumberOfTransactions *uint64
	PINKeyID             string
	PINMinLength         int
	PINMaxLength         int
}

// Uint64 returns a pointer to v, for Key's optional integers.
func Uint64(v uint64) *uint64 { return &v }
