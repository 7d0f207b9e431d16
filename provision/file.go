package provision

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tokenlab/tokenlab/provision/pskc"
	"github.com/tokenlab/tokenlab/token"
)

// Reader yields the records of a seed file. Next returns io.EOF after the
// last record; after any other error the reader is spent. Close releases
// the file, if the reader opened one.
type Reader interface {
	Next() (Record, error)
	Close() error
}

// Writer writes records to a seed file. Close writes what the format puts
// at the end and flushes, but does not close the underlying io.Writer.
type Writer interface {
	Write(Record) error
	Close() error
}

// ReadOptions carry what reading a file needs.
type ReadOptions struct {
	// Format forces a format; empty detects it from the first bytes
	// (see [DetectFormat]).
	Format Format
	// PreSharedKey or Passphrase decrypt an encrypted PSKC file.
	PreSharedKey []byte
	Passphrase   []byte
	// SkipSecrets reads an encrypted PSKC file without its key: records
	// come with a nil Seed (for listing a file's tokens).
	SkipSecrets bool
}

// WriteOptions choose how a file is written.
type WriteOptions struct {
	// PreSharedKey (16 bytes) or Passphrase encrypt a PSKC file (RFC 6030
	// §6.1, §6.2); the CSV formats refuse them, having no way to encrypt.
	PreSharedKey []byte
	Passphrase   []byte
	// Iterations of PBKDF2 (default pskc.DefaultIterations).
	Iterations int
	// Rand supplies IVs, MAC keys and salts (default crypto/rand).
	Rand io.Reader
}

// Open opens a seed file and returns a reader of its records; Close
// closes the file.
func Open(path string, opts ReadOptions) (Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	r, err := OpenReader(f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileReader{Reader: r, f: f}, nil
}

type fileReader struct {
	Reader
	f *os.File
}

func (r *fileReader) Close() error {
	r.Reader.Close()
	return r.f.Close()
}

// Check reads a whole file and returns how many records it holds, or the
// first error: the first pass of a caller that must not act on part of a
// bad file (a wrong key, a tampered value, a duplicate near the end).
func Check(path string, opts ReadOptions) (int, error) {
	r, err := Open(path, opts)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		rec.Seed.Wipe()
		n++
	}
}

// DetectFormat guesses a seed file's format from its first line: XML is
// PSKC; a header "upn,serial number,..." is Entra's; a header naming
// serial and secret columns is tokenlab's CSV; anything else is OATH CSV.
func DetectFormat(head []byte) Format {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) > 0 && head[0] == '<' {
		return FormatPSKC
	}
	line := head
	for bytes.HasPrefix(line, []byte("#")) { // OATH CSV comments
		i := bytes.IndexByte(line, '\n')
		if i < 0 {
			break
		}
		line = line[i+1:]
	}
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	l := bytes.ToLower(line)
	switch {
	case bytes.HasPrefix(l, []byte("upn,")):
		return FormatEntraCSV
	case bytes.Contains(l, []byte("serial")) && bytes.Contains(l, []byte("secret")):
		return FormatCSV
	}
	return FormatOATHCSV
}

// OpenReader returns a reader of the records in r, in opts.Format or the
// format DetectFormat finds.
func OpenReader(r io.Reader, opts ReadOptions) (Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3) // spreadsheet exports start CSV files with a UTF-8 BOM
	}
	f := opts.Format
	if f == "" {
		head, _ := br.Peek(4096)
		f = DetectFormat(head)
	}
	var inner Reader
	switch f {
	case FormatPSKC:
		pr, err := pskc.NewReader(br, pskc.ReaderOptions{PreSharedKey: opts.PreSharedKey, Passphrase: opts.Passphrase, SkipSecrets: opts.SkipSecrets})
		if err != nil {
			return nil, err
		}
		inner = &pskcReader{r: pr, skip: opts.SkipSecrets}
	case FormatCSV, FormatOATHCSV, FormatEntraCSV:
		cr, err := newCSVReader(br, f)
		if err != nil {
			return nil, err
		}
		inner = cr
	default:
		return nil, fmt.Errorf("provision: unknown format %q", f)
	}
	return &checkedReader{r: inner, skip: opts.SkipSecrets}, nil
}

// serialSet remembers serials to find duplicates. Serials of the form
// tokenlab allocates (four letters, eight digits) are packed into a
// uint64, so a file of a million tokens costs tens of megabytes, not
// hundreds; other serials are kept as strings.
type serialSet struct {
	packed map[uint64]struct{}
	other  map[token.Serial]struct{}
}

// add records s and reports whether it was new.
func (set *serialSet) add(s token.Serial) bool {
	if k, ok := packSerial(s); ok {
		if set.packed == nil {
			set.packed = make(map[uint64]struct{})
		}
		if _, dup := set.packed[k]; dup {
			return false
		}
		set.packed[k] = struct{}{}
		return true
	}
	if set.other == nil {
		set.other = make(map[token.Serial]struct{})
	}
	if _, dup := set.other[s]; dup {
		return false
	}
	set.other[s] = struct{}{}
	return true
}

// packSerial maps AAAA99999999 (upper-case letters, digits) one-to-one to
// a number below 26^4 * 10^8.
func packSerial(s token.Serial) (uint64, bool) {
	if len(s) != token.AllocatedSerialLen {
		return 0, false
	}
	var k uint64
	for i := 0; i < 4; i++ {
		c := s[i]
		if c < 'A' || c > 'Z' {
			return 0, false
		}
		k = k*26 + uint64(c-'A')
	}
	for i := 4; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		k = k*10 + uint64(c-'0')
	}
	return k, true
}

// checkedReader refuses duplicate serials and secrets under 128 bits,
// whatever the format.
type checkedReader struct {
	r    Reader
	seen serialSet
	n    int
	skip bool
	err  error
}

func (c *checkedReader) Next() (Record, error) {
	if c.err != nil {
		return Record{}, c.err
	}
	rec, err := c.r.Next()
	if err == nil {
		c.n++
		err = c.check(&rec)
	}
	if err != nil {
		rec.Seed.Wipe()
		c.err = err
		return Record{}, err
	}
	return rec, nil
}

func (c *checkedReader) check(rec *Record) error {
	if !c.seen.add(rec.Serial) {
		return fmt.Errorf("%w %s (record %d)", ErrDuplicate, rec.Serial, c.n)
	}
	if rec.Seed == nil && c.skip {
		return nil
	}
	if _, err := token.NewSeed(rec.Seed); err != nil {
		return fmt.Errorf("%w: record %d (serial %s): %v", ErrRecord, c.n, rec.Serial, err)
	}
	if err := rec.Spec.Validate(); err != nil {
		return fmt.Errorf("%w: record %d (serial %s): %v", ErrRecord, c.n, rec.Serial, err)
	}
	return nil
}

func (c *checkedReader) Close() error { return c.r.Close() }

// pskcReader turns key packages into records.
type pskcReader struct {
	r    *pskc.Reader
	skip bool
	n    int
}

func (p *pskcReader) Close() error { return nil }

func (p *pskcReader) Next() (Record, error) {
	for {
		k, err := p.r.Next()
		if err != nil {
			return Record{}, err
		}
		p.n++
		if k.Algorithm == pskc.PIN {
			// A PIN key (RFC 6030 figure 5) is the PIN of another key
			// package's token, not a token of its own.
			continue
		}
		rec, err := recordFromKey(k)
		if err != nil {
			return Record{}, fmt.Errorf("%w: key package %d: %v", ErrRecord, p.n, err)
		}
		if rec.Seed == nil && !p.skip {
			return Record{}, fmt.Errorf("%w: key package %d (serial %s): no secret", ErrRecord, p.n, rec.Serial)
		}
		return rec, nil
	}
}

func recordFromKey(k *pskc.Key) (Record, error) {
	var rec Record
	switch k.Algorithm {
	case pskc.TOTP:
		rec.Type = token.TOTP
	case pskc.HOTP:
		rec.Type = token.HOTP
	case "":
		return rec, errors.New("key has no Algorithm URN")
	default:
		return rec, fmt.Errorf("unknown algorithm URN %q (want %s or %s)", trunc(k.Algorithm), pskc.TOTP, pskc.HOTP)
	}
	if k.SerialNo == "" {
		return rec, errors.New("no DeviceInfo/SerialNo")
	}
	s, err := token.ParseSerial(k.SerialNo)
	if err != nil {
		return rec, err
	}
	rec.Serial = s
	rec.Spec = token.DefaultSpec
	if k.Suite != "" {
		if rec.Spec.Algorithm, err = token.ParseAlgorithm(k.Suite); err != nil {
			return rec, fmt.Errorf("serial %s: %v", s, err)
		}
	}
	if k.ResponseLength != 0 {
		rec.Spec.Digits = k.ResponseLength
	}
	if k.ResponseEncoding != "" && k.ResponseEncoding != "DECIMAL" {
		return rec, fmt.Errorf("serial %s: response encoding %q (want DECIMAL)", s, trunc(k.ResponseEncoding))
	}
	if k.TimeInterval != nil && rec.Type == token.TOTP {
		if *k.TimeInterval > 3600 {
			return rec, fmt.Errorf("serial %s: time interval %d s", s, *k.TimeInterval)
		}
		rec.Spec.Period = time.Duration(*k.TimeInterval) * time.Second
	}
	if k.Counter != nil {
		rec.Counter = *k.Counter
	}
	if m, err := token.ParseModel(k.Model); err == nil {
		rec.Model = m
	}
	rec.Issuer = k.Issuer
	rec.Manufacturer = k.Manufacturer
	if k.Secret != nil {
		rec.Seed = token.Seed(k.Secret)
	}
	return rec, nil
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// NewWriter returns a writer of records to w in format f.
func NewWriter(w io.Writer, f Format, opts WriteOptions) (Writer, error) {
	switch f {
	case FormatPSKC:
		pw, err := pskc.NewWriter(w, pskc.WriterOptions{PreSharedKey: opts.PreSharedKey, Passphrase: opts.Passphrase, Iterations: opts.Iterations, Rand: opts.Rand})
		if err != nil {
			return nil, err
		}
		return &pskcWriter{w: pw}, nil
	case FormatCSV, FormatOATHCSV, FormatEntraCSV:
		if opts.PreSharedKey != nil || opts.Passphrase != nil {
			return nil, fmt.Errorf("provision: %s files cannot be encrypted; a key or passphrase needs --format pskc", f)
		}
		return newCSVWriter(w, f)
	}
	return nil, fmt.Errorf("provision: unknown format %q", f)
}

func pskcManufacturer(m string) bool {
	return len(m) > len("oath.") && (strings.HasPrefix(m, "oath.") || strings.HasPrefix(m, "iana."))
}

type pskcWriter struct {
	w *pskc.Writer
	k pskc.Key
}

func (p *pskcWriter) Write(rec Record) error {
	k := &p.k
	*k = pskc.Key{
		Manufacturer: rec.Manufacturer, SerialNo: string(rec.Serial), ID: string(rec.Serial),
		Issuer: rec.Issuer, Suite: suiteOf(rec.Spec.Algorithm), ResponseLength: rec.Spec.Digits,
		ResponseEncoding: "DECIMAL", Secret: rec.Seed,
	}
	// RFC 6030 §4.3.1: a Manufacturer is an OATH manufacturer prefix
	// ("oath.XX") or an IANA enterprise number ("iana.NNNN"). A free-text
	// name, which the CSV formats carry, is left out of PSKC rather than
	// written in a form validators flag as non-compliant.
	if !pskcManufacturer(k.Manufacturer) {
		k.Manufacturer = ""
	}
	if rec.Model != 0 {
		k.Model = rec.Model.String()
	}
	if rec.Type == token.HOTP {
		k.Algorithm = pskc.HOTP
		k.Counter = pskc.Uint64(rec.Counter)
	} else {
		k.Algorithm = pskc.TOTP
		k.TimeInterval = pskc.Uint64(uint64(rec.Spec.Period / time.Second))
	}
	return p.w.Write(k)
}

func (p *pskcWriter) Close() error { return p.w.Close() }
