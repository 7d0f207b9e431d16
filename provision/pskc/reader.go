package pskc

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
)

// ReaderOptions carry what an encrypted document needs to be read.
type ReaderOptions struct {
	// PreSharedKey decrypts a document protected by a pre-shared key
	// (RFC 6030 §6.1): 16, 24 or 32 bytes, as the document's cipher wants.
	PreSharedKey []byte
	// Passphrase decrypts a document whose key is derived with PBKDF2
	// (RFC 6030 §6.2).
	Passphrase []byte
	// SkipSecrets reads an encrypted document without a key: every
	// encrypted value is left out (Key.Secret is nil) and nothing is
	// decrypted or MAC-checked. Plain secrets are still returned.
	SkipSecrets bool
}

// Reader reads a PSKC document one KeyPackage at a time, with encoding/xml's
// streaming decoder: memory does not grow with the number of keys.
//
// Elements are matched on their local names, whatever their namespace
// prefix, as python-pskc does, so the namespace variants in circulation
// read; values are strict: a malformed integer, boolean, date or base64
// value, an unknown algorithm, a MAC mismatch or a value that does not
// decrypt stops the reader with an error naming the key package.
type Reader struct {
	dec  *xml.Decoder
	opts ReaderOptions
	n    int // key packages read
	done bool
	err  error

	encKey    *xEncryptionKey
	macMethod *xMACMethod
	key       []byte // the encryption key, once known
	macHash   func() hash.Hash
	macKey    []byte
	keyReady  bool
	keyErr    error
	encrypted bool
}

// NewReader reads r up to the KeyContainer element and checks that the
// document is a PSKC 1.0 document.
func NewReader(r io.Reader, opts ReaderOptions) (*Reader, error) {
	dec := xml.NewDecoder(r)
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "utf-8") || strings.EqualFold(label, "us-ascii") {
			return in, nil
		}
		return nil, fmt.Errorf("%w: encoding %q (want UTF-8)", ErrFormat, short(label))
	}
	pr := &Reader{dec: dec, opts: opts}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, pr.syntax(err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local != "KeyContainer" {
			return nil, fmt.Errorf("%w: root element is %s, want KeyContainer", ErrFormat, short(se.Name.Local))
		}
		for _, a := range se.Attr {
			if a.Name.Local == "Version" || a.Name.Local == "version" {
				if v := strings.TrimSpace(a.Value); v != "1.0" && v != "1" {
					return nil, fmt.Errorf("%w: KeyContainer version %q (want 1.0)", ErrFormat, short(a.Value))
				}
			}
		}
		return pr, nil
	}
}

func (r *Reader) syntax(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: no KeyContainer element", ErrFormat)
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: XML syntax error on line %d: %s", ErrFormat, se.Line, se.Msg)
	}
	if errors.Is(err, ErrFormat) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrFormat, err)
}

// Encrypted reports whether the document has an EncryptionKey; it is known
// once Next has returned the first key package (or io.EOF).
func (r *Reader) Encrypted() bool { return r.encrypted }

// Next returns the next key package, or io.EOF after the last one. After
// any other error the reader is done and returns that error again.
func (r *Reader) Next() (*Key, error) {
	if r.err != nil {
		return nil, r.err
	}
	k, err := r.next()
	if err != nil {
		r.err = err
	}
	return k, err
}

func (r *Reader) next() (*Key, error) {
	if r.done {
		return nil, io.EOF
	}
	for {
		tok, err := r.dec.Token()
		if err != nil {
			return nil, r.syntax(err)
		}
		switch t := tok.(type) {
		case xml.EndElement: // </KeyContainer>
			r.done = true
			if err := r.trailer(); err != nil {
				return nil, err
			}
			return nil, io.EOF
		case xml.StartElement:
			switch t.Name.Local {
			case "EncryptionKey":
				r.encKey = new(xEncryptionKey)
				r.encrypted = true
				if err := r.dec.DecodeElement(r.encKey, &t); err != nil {
					return nil, r.syntax(err)
				}
			case "MACMethod":
				r.macMethod = new(xMACMethod)
				if err := r.dec.DecodeElement(r.macMethod, &t); err != nil {
					return nil, r.syntax(err)
				}
			case "KeyPackage":
				var kp xKeyPackage
				if err := r.dec.DecodeElement(&kp, &t); err != nil {
					return nil, r.syntax(err)
				}
				r.n++
				k, err := r.convert(&kp)
				if err != nil {
					who := ""
					if s := strings.TrimSpace(kp.DeviceInfo.SerialNo); s != "" {
						who = " (serial " + short(s) + ")"
					}
					return nil, fmt.Errorf("key package %d%s: %w", r.n, who, err)
				}
				return k, nil
			default: // Signature, Extensions and the like
				if err := r.dec.Skip(); err != nil {
					return nil, r.syntax(err)
				}
			}
		}
	}
}

// trailer checks that nothing but comments and space follows the document.
func (r *Reader) trailer() error {
	for {
		tok, err := r.dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return r.syntax(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return fmt.Errorf("%w: element %s after KeyContainer", ErrFormat, short(t.Name.Local))
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("%w: text after KeyContainer", ErrFormat)
			}
		}
	}
}

// The element types below mirror RFC 6030's schema, matched on local names.

type xEncryptionKey struct {
	KeyName    []string `xml:"KeyName"`
	DerivedKey *struct {
		Method *struct {
			Algorithm string `xml:"Algorithm,attr"`
			Params    *struct {
				Salt           *string `xml:"Salt>Specified"`
				IterationCount string  `xml:"IterationCount"`
				KeyLength      string  `xml:"KeyLength"`
				PRF            *struct {
					Algorithm string `xml:"Algorithm,attr"`
				} `xml:"PRF"`
			} `xml:"PBKDF2-params"`
		} `xml:"KeyDerivationMethod"`
		MasterKeyName string `xml:"MasterKeyName"`
	} `xml:"DerivedKey"`
	X509Data *struct{} `xml:"X509Data"`
}

type xMACMethod struct {
	Algorithm string      `xml:"Algorithm,attr"`
	MACKey    *xEncrypted `xml:"MACKey"`
}

type xEncrypted struct {
	Method *struct {
		Algorithm string `xml:"Algorithm,attr"`
	} `xml:"EncryptionMethod"`
	CipherValue *string `xml:"CipherData>CipherValue"`
}

type xValue struct {
	PlainValue     *string     `xml:"PlainValue"`
	EncryptedValue *xEncrypted `xml:"EncryptedValue"`
	ValueMAC       *string     `xml:"ValueMAC"`
}

type xFormat struct {
	Length      string `xml:"Length,attr"`
	Min         string `xml:"Min,attr"`
	Max         string `xml:"Max,attr"`
	Encoding    string `xml:"Encoding,attr"`
	CheckDigits string `xml:"CheckDigits,attr"`
	CheckDigit  string `xml:"CheckDigit,attr"`
}

type xKeyPackage struct {
	DeviceInfo struct {
		Manufacturer string `xml:"Manufacturer"`
		SerialNo     string `xml:"SerialNo"`
		Model        string `xml:"Model"`
		IssueNo      string `xml:"IssueNo"`
		UserID       string `xml:"UserId"`
		StartDate    string `xml:"StartDate"`
		ExpiryDate   string `xml:"ExpiryDate"`
	} `xml:"DeviceInfo"`
	Key *struct {
		ID                  string `xml:"Id,attr"`
		Algorithm           string `xml:"Algorithm,attr"`
		Issuer              string `xml:"Issuer"`
		FriendlyName        string `xml:"FriendlyName"`
		UserID              string `xml:"UserId"`
		AlgorithmParameters struct {
			Suite           string   `xml:"Suite"`
			ResponseFormat  *xFormat `xml:"ResponseFormat"`
			ChallengeFormat *xFormat `xml:"ChallengeFormat"`
		} `xml:"AlgorithmParameters"`
		Data struct {
			Secret       *xValue `xml:"Secret"`
			Counter      *xValue `xml:"Counter"`
			Time         *xValue `xml:"Time"`
			TimeInterval *xValue `xml:"TimeInterval"`
			TimeDrift    *xValue `xml:"TimeDrift"`
		} `xml:"Data"`
		Policy *struct {
			StartDate            string   `xml:"StartDate"`
			ExpiryDate           string   `xml:"ExpiryDate"`
			KeyUsage             []string `xml:"KeyUsage"`
			NumberOfTransactions *string  `xml:"NumberOfTransactions"`
			PINPolicy            *struct {
				PINKeyID          string `xml:"PINKeyId,attr"`
				MinLength         string `xml:"MinLength,attr"`
				MaxLength         string `xml:"MaxLength,attr"`
				MaxFailedAttempts string `xml:"MaxFailedAttempts,attr"`
				PINEncoding       string `xml:"PINEncoding,attr"`
				PINUsageMode      string `xml:"PINUsageMode,attr"`
			} `xml:"PINPolicy"`
		} `xml:"Policy"`
	} `xml:"Key"`
}

func (r *Reader) convert(kp *xKeyPackage) (*Key, error) {
	di := &kp.DeviceInfo
	k := &Key{
		Manufacturer: strings.TrimSpace(di.Manufacturer),
		SerialNo:     strings.TrimSpace(di.SerialNo),
		Model:        strings.TrimSpace(di.Model),
		IssueNo:      strings.TrimSpace(di.IssueNo),
		DeviceUserID: strings.TrimSpace(di.UserID),
	}
	var err error
	if k.StartDate, err = parseDate("DeviceInfo/StartDate", di.StartDate); err != nil {
		return nil, err
	}
	if k.ExpiryDate, err = parseDate("DeviceInfo/ExpiryDate", di.ExpiryDate); err != nil {
		return nil, err
	}
	x := kp.Key
	if x == nil {
		return k, nil
	}
	k.ID = strings.TrimSpace(x.ID)
	k.Algorithm = strings.TrimSpace(x.Algorithm)
	k.Issuer = strings.TrimSpace(x.Issuer)
	k.FriendlyName = strings.TrimSpace(x.FriendlyName)
	k.UserID = strings.TrimSpace(x.UserID)
	ap := &x.AlgorithmParameters
	k.Suite = strings.TrimSpace(ap.Suite)
	if f := ap.ResponseFormat; f != nil {
		if k.ResponseLength, err = parseIntAttr("ResponseFormat/@Length", f.Length); err != nil {
			return nil, err
		}
		k.ResponseEncoding = strings.TrimSpace(f.Encoding)
		if k.ResponseCheck, err = parseBoolAttrs("ResponseFormat", f); err != nil {
			return nil, err
		}
	}
	if f := ap.ChallengeFormat; f != nil {
		if _, err = parseIntAttr("ChallengeFormat/@Min", f.Min); err != nil {
			return nil, err
		}
		if _, err = parseIntAttr("ChallengeFormat/@Max", f.Max); err != nil {
			return nil, err
		}
		if _, err = parseBoolAttrs("ChallengeFormat", f); err != nil {
			return nil, err
		}
	}
	d := &x.Data
	if d.Secret != nil {
		if k.Secret, err = r.value("Secret", d.Secret); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		v    *xValue
		dst  **uint64
	}{
		{"Counter", d.Counter, &k.Counter},
		{"Time", d.Time, &k.Time},
		{"TimeInterval", d.TimeInterval, &k.TimeInterval},
		{"TimeDrift", d.TimeDrift, &k.TimeDrift},
	} {
		if f.v == nil {
			continue
		}
		if *f.dst, err = r.intValue(f.name, f.v); err != nil {
			return nil, err
		}
	}
	if p := x.Policy; p != nil {
		if k.StartDate, err = parseDate("Policy/StartDate", p.StartDate); err != nil {
			return nil, err
		}
		if k.ExpiryDate, err = parseDate("Policy/ExpiryDate", p.ExpiryDate); err != nil {
			return nil, err
		}
		for _, u := range p.KeyUsage {
			k.KeyUsage = append(k.KeyUsage, strings.TrimSpace(u))
		}
		if p.NumberOfTransactions != nil {
			v, err := strconv.ParseUint(strings.TrimSpace(*p.NumberOfTransactions), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: Policy/NumberOfTransactions is not an integer", ErrFormat)
			}
			k.NumberOfTransactions = &v
		}
		if pp := p.PINPolicy; pp != nil {
			k.PINKeyID = strings.TrimSpace(pp.PINKeyID)
			if k.PINMinLength, err = parseIntAttr("PINPolicy/@MinLength", pp.MinLength); err != nil {
				return nil, err
			}
			if k.PINMaxLength, err = parseIntAttr("PINPolicy/@MaxLength", pp.MaxLength); err != nil {
				return nil, err
			}
			if _, err = parseIntAttr("PINPolicy/@MaxFailedAttempts", pp.MaxFailedAttempts); err != nil {
				return nil, err
			}
		}
	}
	return k, nil
}

func parseDate(what, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q is not an xs:dateTime", ErrFormat, what, short(s))
	}
	return t, nil
}

func parseIntAttr(what, s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not an integer", ErrFormat, what, short(s))
	}
	return int(v), nil
}

// parseBoolAttrs reads CheckDigits (or the CheckDigit spelling some
// vendors use) as an xs:boolean.
func parseBoolAttrs(what string, f *xFormat) (bool, error) {
	s := f.CheckDigits
	if s == "" {
		s = f.CheckDigit
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, fmt.Errorf("%w: %s/@CheckDigits %q is not a boolean", ErrFormat, what, short(s))
}

// decodeBase64 reads base64 with the line breaks and spaces XML files carry.
func decodeBase64(what, s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not valid base64", ErrFormat, what)
	}
	return b, nil
}

// value returns the bytes of a PlainValue or a decrypted EncryptedValue.
func (r *Reader) value(what string, v *xValue) ([]byte, error) {
	switch {
	case v.EncryptedValue != nil:
		if r.opts.SkipSecrets {
			return nil, nil
		}
		return r.decrypt(what, v)
	case v.PlainValue != nil:
		if v.ValueMAC != nil && r.macMethod == nil {
			return nil, fmt.Errorf("%w: %s has a ValueMAC but the document has no MACMethod", ErrFormat, what)
		}
		return decodeBase64(what+"/PlainValue", *v.PlainValue)
	}
	return nil, nil // an empty element: no value
}

// intValue reads an integer: decimal text in PlainValue, or (as older
// files and python-pskc do) base64 of ASCII digits or of a big-endian
// number, plain or encrypted.
func (r *Reader) intValue(what string, v *xValue) (*uint64, error) {
	var raw []byte
	switch {
	case v.PlainValue != nil:
		s := strings.TrimSpace(*v.PlainValue)
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return &n, nil
		}
		b, err := decodeBase64(what+"/PlainValue", s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is neither an integer nor base64", ErrFormat, what)
		}
		raw = b
	case v.EncryptedValue != nil:
		if r.opts.SkipSecrets {
			return nil, nil
		}
		b, err := r.decrypt(what, v)
		if err != nil {
			return nil, err
		}
		raw = b
	default:
		return nil, nil
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrFormat, what)
	}
	digits := true
	for _, c := range raw {
		if c < '0' || c > '9' {
			digits = false
			break
		}
	}
	if digits {
		n, err := strconv.ParseUint(string(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is out of range", ErrFormat, what)
		}
		return &n, nil
	}
	if len(raw) > 8 {
		return nil, fmt.Errorf("%w: %s has %d bytes, more than a 64-bit integer", ErrFormat, what, len(raw))
	}
	var buf [8]byte
	copy(buf[8-len(raw):], raw)
	n := binary.BigEndian.Uint64(buf[:])
	return &n, nil
}

// setupKeys finds the encryption key and the MAC key, once.
func (r *Reader) setupKeys() error {
	if r.keyReady {
		return r.keyErr
	}
	r.keyReady = true
	r.keyErr = r.findKeys()
	return r.keyErr
}

func (r *Reader) findKeys() error {
	ek := r.encKey
	switch {
	case ek != nil && ek.X509Data != nil:
		return fmt.Errorf("%w: the document is encrypted to an X.509 certificate (asymmetric keys are not supported)", ErrUnsupported)
	case ek != nil && ek.DerivedKey != nil:
		m := ek.DerivedKey.Method
		if m == nil {
			return fmt.Errorf("%w: DerivedKey has no KeyDerivationMethod", ErrFormat)
		}
		if m.Algorithm != PBKDF2 {
			return fmt.Errorf("%w: key derivation %q", ErrUnsupported, short(m.Algorithm))
		}
		p := m.Params
		if p == nil || p.Salt == nil || strings.TrimSpace(p.IterationCount) == "" {
			return fmt.Errorf("%w: incomplete PBKDF2 parameters (salt and iteration count are required)", ErrFormat)
		}
		if r.opts.Passphrase == nil {
			return fmt.Errorf("%w (its key is derived from a passphrase)", ErrKeyRequired)
		}
		salt, err := decodeBase64("PBKDF2 salt", *p.Salt)
		if err != nil {
			return err
		}
		iter, err := strconv.ParseUint(strings.TrimSpace(p.IterationCount), 10, 31)
		if err != nil || iter == 0 {
			return fmt.Errorf("%w: PBKDF2 iteration count %q", ErrFormat, short(p.IterationCount))
		}
		if iter > 10_000_000 {
			return fmt.Errorf("%w: PBKDF2 iteration count %d is unreasonably high", ErrFormat, iter)
		}
		keyLen := 16
		if s := strings.TrimSpace(p.KeyLength); s != "" {
			n, err := strconv.ParseUint(s, 10, 8)
			if err != nil || (n != 16 && n != 24 && n != 32) {
				return fmt.Errorf("%w: PBKDF2 key length %q (want 16, 24 or 32)", ErrFormat, short(s))
			}
			keyLen = int(n)
		}
		prf := ""
		if p.PRF != nil {
			prf = p.PRF.Algorithm
		}
		h, err := prfHash(prf)
		if err != nil {
			return err
		}
		r.key = deriveKey(r.opts.Passphrase, salt, int(iter), keyLen, h)
	default: // a pre-shared key, named or not
		if r.opts.PreSharedKey == nil {
			return fmt.Errorf("%w (a pre-shared key)", ErrKeyRequired)
		}
		r.key = r.opts.PreSharedKey
	}
	if mm := r.macMethod; mm != nil {
		h, err := macHash(mm.Algorithm)
		if err != nil {
			return err
		}
		r.macHash = h
		if mm.MACKey == nil {
			// Drafts of RFC 6030 used the encryption key itself.
			r.macKey = r.key
			return nil
		}
		mk, err := r.decryptRaw("MACKey", mm.MACKey)
		if err != nil {
			return fmt.Errorf("MAC key: %w", err)
		}
		r.macKey = mk
	}
	return nil
}

// encryptionMethod is the cipher of e's EncryptionMethod.
func encryptionMethod(what string, e *xEncrypted) (cipherSpec, error) {
	if e.Method == nil {
		return cipherSpec{}, fmt.Errorf("%w: %s has no EncryptionMethod", ErrFormat, what)
	}
	return cipherFor(strings.TrimSpace(e.Method.Algorithm))
}

// cipherValue is e's CipherValue (IV and ciphertext), decoded.
func cipherValue(what string, e *xEncrypted) ([]byte, error) {
	if e.CipherValue == nil {
		return nil, fmt.Errorf("%w: %s has no CipherValue", ErrFormat, what)
	}
	return decodeBase64(what+"/CipherValue", *e.CipherValue)
}

func (r *Reader) decryptRaw(what string, e *xEncrypted) ([]byte, error) {
	c, err := encryptionMethod(what, e)
	if err != nil {
		return nil, err
	}
	ct, err := cipherValue(what, e)
	if err != nil {
		return nil, err
	}
	return c.decrypt(r.key, ct)
}

// decrypt checks a value's MAC and decrypts it. The MAC of RFC 6030 §6.1.1
// covers the CipherValue (IV and ciphertext) and is checked before
// decrypting; drafts of the RFC computed it over the plaintext, which is
// accepted as a fallback.
func (r *Reader) decrypt(what string, v *xValue) ([]byte, error) {
	e := v.EncryptedValue
	if _, err := encryptionMethod(what, e); err != nil {
		return nil, err
	}
	if err := r.setupKeys(); err != nil {
		return nil, err
	}
	if v.ValueMAC == nil {
		return r.decryptRaw(what, e)
	}
	if r.macHash == nil {
		return nil, fmt.Errorf("%w: %s has a ValueMAC but the document has no MACMethod", ErrFormat, what)
	}
	want, err := decodeBase64(what+"/ValueMAC", *v.ValueMAC)
	if err != nil {
		return nil, err
	}
	ct, err := cipherValue(what, e)
	if err != nil {
		return nil, err
	}
	if checkMAC(r.macHash, r.macKey, ct, want) {
		return r.decryptRaw(what, e)
	}
	pt, err := r.decryptRaw(what, e)
	if err == nil && checkMAC(r.macHash, r.macKey, pt, want) {
		return pt, nil
	}
	clear(pt)
	return nil, fmt.Errorf("%s: %w", what, ErrMAC)
}
