package provision

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tokenlab/tokenlab/token"
)

// The CSV layouts:
//
//   - FormatCSV, tokenlab's own: a header line, then
//     serial,secret,algorithm,digits,period,model with the secret in
//     unpadded base32. Reading, columns are found by header name in any
//     order; a "secret_hex" column holds the secret in hex instead; a
//     "type" (totp, hotp) and a "counter" column are understood;
//     algorithm, digits, period and model may be absent (SHA1, 6, 30).
//   - FormatOATHCSV, the "OATH CSV" privacyIDEA and LinOTP import: no
//     header, "#" comments, serial,hex key,type,digits,time step and, when
//     the hash is not SHA1, a sixth column sha256 or sha512.
//   - FormatEntraCSV, Microsoft Entra's hardware OATH token upload: the
//     header "upn,serial number,secret key,time interval,manufacturer,model"
//     and base32 secrets. The layout has no algorithm or digits column, so
//     only SHA1 tokens of 6 digits can be written in it.

const entraHeader = "upn,serial number,secret key,time interval,manufacturer,model"

var ourHeader = []string{"serial", "secret", "algorithm", "digits", "period", "model"}

type csvReader struct {
	r    *csv.Reader
	f    Format
	cols map[string]int
	hex  bool
}

func newCSVReader(r io.Reader, f Format) (*csvReader, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	cr.ReuseRecord = true
	c := &csvReader{r: cr, f: f}
	switch f {
	case FormatCSV:
		hdr, err := cr.Read()
		if err != nil {
			return nil, c.csvErr(err, "no header line")
		}
		c.cols = map[string]int{}
		for i, h := range hdr {
			c.cols[strings.ToLower(strings.TrimSpace(h))] = i
		}
		if _, ok := c.cols["serial"]; !ok {
			return nil, fmt.Errorf("%w: csv header has no serial column", ErrRecord)
		}
		_, b32 := c.cols["secret"]
		_, hx := c.cols["secret_hex"]
		switch {
		case b32 && hx:
			return nil, fmt.Errorf("%w: csv header has both secret and secret_hex", ErrRecord)
		case hx:
			c.hex = true
		case !b32:
			return nil, fmt.Errorf("%w: csv header has no secret (base32) or secret_hex column", ErrRecord)
		}
	case FormatEntraCSV:
		hdr, err := cr.Read()
		if err != nil {
			return nil, c.csvErr(err, "no header line")
		}
		if got := strings.ToLower(strings.Join(trimAll(hdr), ",")); got != entraHeader {
			return nil, fmt.Errorf("%w: entra csv header %q, want %q", ErrRecord, trunc(got), entraHeader)
		}
	}
	return c, nil
}

func trimAll(fs []string) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = strings.TrimSpace(f)
	}
	return out
}

func (c *csvReader) csvErr(err error, what string) error {
	if err == io.EOF {
		return fmt.Errorf("%w: %s file: %s", ErrRecord, c.f, what)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: %s line %d: %v", ErrRecord, c.f, pe.Line, pe.Err)
	}
	return fmt.Errorf("provision: %w", err)
}

func (c *csvReader) Close() error { return nil }

func (c *csvReader) Next() (Record, error) {
	for {
		fields, err := c.r.Read()
		if err == io.EOF {
			return Record{}, io.EOF
		}
		if err != nil {
			return Record{}, c.csvErr(err, "")
		}
		line, _ := c.r.FieldPos(0)
		if len(fields) == 1 && strings.TrimSpace(fields[0]) == "" {
			continue
		}
		var rec Record
		switch c.f {
		case FormatCSV:
			rec, err = c.ours(fields)
		case FormatOATHCSV:
			rec, err = oathRecord(fields)
		case FormatEntraCSV:
			rec, err = entraRecord(fields)
		}
		if err != nil {
			return Record{}, fmt.Errorf("%w: %s line %d: %v", ErrRecord, c.f, line, err)
		}
		return rec, nil
	}
}

func (c *csvReader) field(fields []string, name string) string {
	i, ok := c.cols[name]
	if !ok || i >= len(fields) {
		return ""
	}
	return strings.TrimSpace(fields[i])
}

func parseSerialField(s string) (token.Serial, error) {
	if s == "" {
		return "", errors.New("empty serial")
	}
	return token.ParseSerial(s)
}

func (c *csvReader) ours(fields []string) (Record, error) {
	rec := Record{Type: token.TOTP, Spec: token.DefaultSpec}
	var err error
	if rec.Serial, err = parseSerialField(c.field(fields, "serial")); err != nil {
		return rec, err
	}
	if c.hex {
		rec.Seed, err = token.ParseHexSeed(c.field(fields, "secret_hex"))
	} else {
		rec.Seed, err = token.ParseBase32Seed(c.field(fields, "secret"))
	}
	if err != nil {
		return rec, fmt.Errorf("serial %s: %v", rec.Serial, err)
	}
	if err := parseSpecFields(&rec, c.field(fields, "algorithm"), c.field(fields, "digits"), c.field(fields, "period")); err != nil {
		return rec, err
	}
	if m := c.field(fields, "model"); m != "" {
		if rec.Model, err = token.ParseModel(m); err != nil {
			return rec, fmt.Errorf("serial %s: %v", rec.Serial, err)
		}
	}
	switch t := strings.ToLower(c.field(fields, "type")); t {
	case "", "totp":
	case "hotp":
		rec.Type = token.HOTP
	default:
		return rec, fmt.Errorf("serial %s: type %q (want totp or hotp)", rec.Serial, trunc(t))
	}
	if s := c.field(fields, "counter"); s != "" {
		if rec.Counter, err = strconv.ParseUint(s, 10, 64); err != nil {
			return rec, fmt.Errorf("serial %s: counter %q is not a number", rec.Serial, trunc(s))
		}
	}
	return rec, nil
}

// parseSpecFields fills rec.Spec from optional text fields.
func parseSpecFields(rec *Record, alg, digits, period string) error {
	var err error
	if alg != "" {
		if rec.Spec.Algorithm, err = token.ParseAlgorithm(alg); err != nil {
			return fmt.Errorf("serial %s: %v", rec.Serial, err)
		}
	}
	if digits != "" {
		if rec.Spec.Digits, err = strconv.Atoi(digits); err != nil {
			return fmt.Errorf("serial %s: digits %q is not a number", rec.Serial, trunc(digits))
		}
	}
	if period != "" {
		p, err := strconv.Atoi(strings.TrimSuffix(period, "s"))
		if err != nil || p <= 0 || p > 3600 {
			return fmt.Errorf("serial %s: period %q is not a number of seconds", rec.Serial, trunc(period))
		}
		rec.Spec.Period = time.Duration(p) * time.Second
	}
	return rec.Spec.Validate()
}

func oathRecord(f []string) (Record, error) {
	f = trimAll(f)
	rec := Record{Type: token.HOTP, Spec: token.DefaultSpec}
	if len(f) < 2 {
		return rec, fmt.Errorf("%d fields, want at least serial and key", len(f))
	}
	var err error
	if rec.Serial, err = parseSerialField(f[0]); err != nil {
		return rec, err
	}
	if rec.Seed, err = token.ParseHexSeed(f[1]); err != nil {
		return rec, fmt.Errorf("serial %s: %v", rec.Serial, err)
	}
	get := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	switch t := strings.ToLower(get(2)); t {
	case "", "hotp":
	case "totp":
		rec.Type = token.TOTP
	default:
		return rec, fmt.Errorf("serial %s: type %q (want hotp or totp)", rec.Serial, trunc(t))
	}
	period := ""
	if rec.Type == token.TOTP {
		period = get(4)
	}
	return rec, parseSpecFields(&rec, get(5), get(3), period)
}

func entraRecord(f []string) (Record, error) {
	f = trimAll(f)
	rec := Record{Type: token.TOTP, Spec: token.DefaultSpec}
	if len(f) != 6 {
		return rec, fmt.Errorf("%d fields, want 6 (%s)", len(f), entraHeader)
	}
	var err error
	if rec.Serial, err = parseSerialField(f[1]); err != nil {
		return rec, err
	}
	if rec.Seed, err = token.ParseBase32Seed(f[2]); err != nil {
		return rec, fmt.Errorf("serial %s: %v", rec.Serial, err)
	}
	rec.UPN, rec.Manufacturer = f[0], f[4]
	if m, err := token.ParseModel(f[5]); err == nil {
		rec.Model = m
	}
	return rec, parseSpecFields(&rec, "", "", f[3])
}

type csvWriter struct {
	w   *csv.Writer
	f   Format
	row []string
	n   int
}

func newCSVWriter(w io.Writer, f Format) (*csvWriter, error) {
	cw := &csvWriter{w: csv.NewWriter(w), f: f}
	switch f {
	case FormatCSV:
		cw.w.Write(ourHeader)
	case FormatEntraCSV:
		cw.w.Write(strings.Split(entraHeader, ","))
	}
	return cw, cw.w.Error()
}

func (c *csvWriter) Write(rec Record) error {
	c.n++
	period := strconv.Itoa(int(rec.Spec.Period / time.Second))
	model := ""
	if rec.Model != 0 {
		model = rec.Model.String()
	}
	switch c.f {
	case FormatCSV:
		if rec.Type == token.HOTP {
			return fmt.Errorf("%w: record %d (serial %s): csv carries TOTP tokens; use pskc or oath-csv for HOTP", ErrRecord, c.n, rec.Serial)
		}
		c.row = append(c.row[:0], string(rec.Serial), rec.Seed.Base32(), rec.Spec.Algorithm.String(), strconv.Itoa(rec.Spec.Digits), period, model)
	case FormatOATHCSV:
		typ := "totp"
		if rec.Type == token.HOTP {
			typ, period = "hotp", ""
		}
		c.row = append(c.row[:0], string(rec.Serial), rec.Seed.Hex(), typ, strconv.Itoa(rec.Spec.Digits), period)
		if rec.Spec.Algorithm != token.SHA1 {
			c.row = append(c.row, strings.ToLower(rec.Spec.Algorithm.String()))
		}
	case FormatEntraCSV:
		if rec.Type == token.HOTP || rec.Spec.Algorithm != token.SHA1 || rec.Spec.Digits != 6 {
			return fmt.Errorf("%w: record %d (serial %s): entra-csv has no algorithm or digits column and carries TOTP SHA1 6-digit tokens only, not %v", ErrRecord, c.n, rec.Serial, rec.Spec)
		}
		man := rec.Manufacturer
		if man == "" {
			man = DefaultManufacturer
		}
		c.row = append(c.row[:0], rec.UPN, string(rec.Serial), rec.Seed.Base32(), period, man, model)
	}
	return c.w.Write(c.row)
}

func (c *csvWriter) Close() error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	return nil
}
