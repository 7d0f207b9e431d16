// Package provision is the manufacturing side of tokenlab: it generates
// batches of hardware TOTP tokens (serials with check digits, fresh seeds,
// the model's spec), writes and reads the seed files that travel with them
// (PSKC, RFC 6030, and the CSV layouts verifiers import), and feeds the
// simulated production line (package line) and the label printer (package
// label).
//
// Everything streams one [Record] at a time, so a batch of a million tokens
// costs the memory of a few thousand:
//
//	b, _ := provision.NewBatch(provision.BatchConfig{Model: token.KeyFob, Prefix: "GAHT", Start: 1, Count: 1000})
//	out, _ := provision.CreateFile("batch.pskc")               // temporary name, renamed on Commit
//	w, _ := provision.NewWriter(out, provision.FormatPSKC, provision.WriteOptions{PreSharedKey: psk})
//	for { rec, err := b.Next(); if err == io.EOF { break }; w.Write(rec) }
//	w.Close(); out.Commit()
//
// Reading a seed file, whatever its format:
//
//	r, _ := provision.Open("batch.pskc", provision.ReadOptions{PreSharedKey: psk})
//	defer r.Close()
//	for {
//		rec, err := r.Next() // io.EOF after the last record
//		...                   // rec.Serial, rec.Spec, rec.Seed
//	}
//
// A reader stops at the first bad record (wrong key, MAC mismatch,
// duplicate serial, short secret...) with an error naming it; the records
// before it were good. A caller that must not act on part of a bad file
// reads it twice: [Check] first, then for real, as the CLI does.
package provision

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tokenlab/tokenlab/token"
)

// Record is one token of a seed file or a batch.
type Record struct {
	Serial token.Serial
	Model  token.Model   // 0 when the file does not say or names a vendor model
	Type   token.KeyType // token.TOTP or token.HOTP
	Spec   token.Spec    // for HOTP, Period is the default and means nothing
	Seed   token.Seed    // nil when read with ReadOptions.SkipSecrets
	// Counter is an HOTP token's moving factor.
	Counter uint64
	// Issuer, Manufacturer and UPN are carried by the formats that have
	// them (PSKC Issuer and Manufacturer, Entra's upn column).
	Issuer       string
	Manufacturer string
	UPN          string
}

// Format is the layout of a seed file.
type Format string

const (
	FormatPSKC     Format = "pskc"      // RFC 6030 XML
	FormatCSV      Format = "csv"       // tokenlab's CSV: serial,secret,algorithm,digits,period,model
	FormatOATHCSV  Format = "oath-csv"  // privacyIDEA/LinOTP import: serial, hex key, type, digits, time step
	FormatEntraCSV Format = "entra-csv" // Microsoft Entra hardware OATH upload
)

// Formats lists every format, in the order help texts show them.
var Formats = []Format{FormatPSKC, FormatCSV, FormatOATHCSV, FormatEntraCSV}

// ParseFormat accepts the names of [Formats].
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if strings.EqualFold(s, string(f)) {
			return f, nil
		}
	}
	return "", fmt.Errorf("provision: unknown format %q (want pskc, csv, oath-csv or entra-csv)", s)
}

var (
	// ErrDuplicate is returned by a reader that meets a serial a second time.
	ErrDuplicate = errors.New("provision: duplicate serial")
	// ErrRecord is matched by every error about a record that is not a
	// usable token: no serial, an unknown algorithm URN, a short secret, a
	// spec tokens do not use.
	ErrRecord = errors.New("provision: invalid record")
)

// DefaultManufacturer is written when a record names none.
const DefaultManufacturer = "tokenlab"

func suiteOf(a token.Algorithm) string { return "HMAC-" + a.String() }
