package provision

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/internal/testtool"
	"github.com/tokenlab/tokenlab/token"
)

func batchRecords(t testing.TB, cfg BatchConfig) []Record {
	t.Helper()
	b, err := NewBatch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, b.Next)
}

// readAll calls next until io.EOF and returns the records it gave.
func readAll(t testing.TB, next func() (Record, error)) []Record {
	t.Helper()
	var recs []Record
	for {
		r, err := next()
		if err == io.EOF {
			return recs
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
}

func TestBatch(t *testing.T) {
	recs := batchRecords(t, BatchConfig{Model: token.KeyFob, Prefix: "GAHT", Start: 1, Count: 600})
	if len(recs) != 600 {
		t.Fatalf("%d records", len(recs))
	}
	seen := map[string]bool{}
	for i, r := range recs {
		if !r.Serial.Allocated() {
			t.Fatalf("record %d: serial %s has no valid check digit", i, r.Serial)
		}
		if len(r.Seed) != 20 || r.Spec != token.DefaultSpec || r.Type != token.TOTP || r.Model != token.KeyFob {
			t.Fatalf("record %d = %+v", i, r)
		}
		if seen[string(r.Seed)] {
			t.Fatalf("record %d repeats a seed", i)
		}
		seen[string(r.Seed)] = true
	}
	if recs[0].Serial != "GAHT00000018" {
		t.Errorf("first serial %s, want GAHT00000018", recs[0].Serial)
	}
	// Continue where the batch stopped.
	more := batchRecords(t, BatchConfig{Model: token.KeyFob, After: recs[599].Serial, Count: 2})
	if _, n, _ := more[0].Serial.Split(); n != 601 {
		t.Errorf("continued batch starts at %s", more[0].Serial)
	}
	for _, alg := range []struct {
		a    token.Algorithm
		size int
	}{{token.SHA1, 20}, {token.SHA256, 32}, {token.SHA512, 64}} {
		spec := token.DefaultSpec
		spec.Algorithm = alg.a
		r := batchRecords(t, BatchConfig{Model: token.DisplayCard, Spec: spec, Prefix: "ABCD", Count: 1})
		if len(r[0].Seed) != alg.size {
			t.Errorf("%v seed has %d bytes, want %d", alg.a, len(r[0].Seed), alg.size)
		}
	}
}

func TestBatchRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  BatchConfig
	}{
		{"count zero", BatchConfig{Model: token.KeyFob, Prefix: "GAHT", Count: 0}},
		{"prefix of three letters", BatchConfig{Model: token.KeyFob, Prefix: "GAH", Count: 1}},
		{"prefix with a digit", BatchConfig{Model: token.KeyFob, Prefix: "GA1T", Count: 1}},
		{"lower-case prefix", BatchConfig{Model: token.KeyFob, Prefix: "gaht", Count: 1}},
		{"fido model", BatchConfig{Model: token.FIDO, Prefix: "GAHT", Count: 1}},
		{"range exhausted", BatchConfig{Model: token.KeyFob, Prefix: "GAHT", Start: token.MaxSerialNumber, Count: 2}},
		{"bad spec", BatchConfig{Model: token.KeyFob, Prefix: "GAHT", Count: 1, Spec: token.Spec{Algorithm: token.SHA1, Digits: 7, Period: 30 * time.Second}}},
		{"after with a bad check digit", BatchConfig{Model: token.KeyFob, After: "GAHT00000017", Count: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewBatch(tt.cfg); err == nil {
				t.Fatal("accepted")
			} else {
				t.Log(err)
			}
		})
	}
}

func roundTrip(t *testing.T, f Format, recs []Record, wopts WriteOptions, ropts ReadOptions) []Record {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, f, wopts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := DetectFormat(buf.Bytes()); got != f {
		t.Errorf("DetectFormat = %s, want %s", got, f)
	}
	r, err := OpenReader(&buf, ropts)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, r.Next)
}

func TestFormatsRoundTrip(t *testing.T) {
	recs := batchRecords(t, BatchConfig{Model: token.KeyFob, Prefix: "GAHT", Start: 1, Count: 300, Issuer: "Example"})
	psk := bytes.Repeat([]byte{0x42}, 16)
	for _, tt := range []struct {
		name string
		f    Format
		w    WriteOptions
		r    ReadOptions
	}{
		{"pskc plain", FormatPSKC, WriteOptions{}, ReadOptions{}},
		{"pskc psk", FormatPSKC, WriteOptions{PreSharedKey: psk}, ReadOptions{PreSharedKey: psk}},
		{"pskc pbkdf2", FormatPSKC, WriteOptions{Passphrase: []byte("pw"), Iterations: 10}, ReadOptions{Passphrase: []byte("pw")}},
		{"csv", FormatCSV, WriteOptions{}, ReadOptions{}},
		{"oath-csv", FormatOATHCSV, WriteOptions{}, ReadOptions{}},
		{"entra-csv", FormatEntraCSV, WriteOptions{}, ReadOptions{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := roundTrip(t, tt.f, recs, tt.w, tt.r)
			if len(got) != len(recs) {
				t.Fatalf("%d records, want %d", len(got), len(recs))
			}
			for i, g := range got {
				w := recs[i]
				if g.Serial != w.Serial || !bytes.Equal(g.Seed, w.Seed) || g.Spec != w.Spec || g.Type != token.TOTP || (g.Model != token.KeyFob && tt.f != FormatOATHCSV) {
					t.Fatalf("record %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
	t.Run("sha256 8 digits 60s", func(t *testing.T) {
		spec := token.Spec{Algorithm: token.SHA256, Digits: 8, Period: time.Minute}
		recs := batchRecords(t, BatchConfig{Model: token.DisplayCard, Spec: spec, Prefix: "WXYZ", Count: 3})
		for _, f := range []Format{FormatPSKC, FormatCSV, FormatOATHCSV} {
			got := roundTrip(t, f, recs, WriteOptions{}, ReadOptions{})
			if len(got) != 3 || got[2].Spec != spec || !bytes.Equal(got[2].Seed, recs[2].Seed) {
				t.Errorf("%s: %+v", f, got)
			}
		}
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, FormatEntraCSV, WriteOptions{})
		if err := w.Write(recs[0]); !errors.Is(err, ErrRecord) {
			t.Errorf("entra-csv took a SHA256 token: %v", err)
		}
	})
	t.Run("csv refuses a key", func(t *testing.T) {
		if _, err := NewWriter(io.Discard, FormatCSV, WriteOptions{PreSharedKey: psk}); err == nil {
			t.Error("accepted")
		}
	})
}

// Inputs every reader must refuse; no secret may appear in the message.
func TestReadRefused(t *testing.T) {
	const b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"
	for _, tt := range []struct {
		name, in string
		want     error
	}{
		{"duplicate serial csv", "serial,secret\nGAHT00000017," + b32 + "\nGAHT00000017," + b32 + "\n", ErrDuplicate},
		{"duplicate serial oath", "GAHT00000017," + hex.EncodeToString([]byte("12345678901234567890")) + ",totp,6,30\nGAHT00000017,3132333435363738393031323334353637383930,totp\n", ErrDuplicate},
		{"short secret csv", "serial,secret\nGAHT00000017,GEZDGNBVGY3TQOJQ\n", token.ErrSeed},
		{"short secret oath", "GAHT00000017,31323334353637383930\n", token.ErrSeed},
		{"bad digits", "serial,secret,digits\nGAHT00000017," + b32 + ",7\n", token.ErrSpec},
		{"unknown algorithm", "serial,secret,algorithm\nGAHT00000017," + b32 + ",MD5\n", token.ErrSpec},
		{"bad serial", "serial,secret\nab," + b32 + "\n", token.ErrSerial},
		{"entra wrong columns", "upn,serial number,secret key,time interval,manufacturer,model\nalice@example.com,GAHT00000017," + b32 + ",30\n", ErrRecord},
		{"entra wrong header", "upn,serial,secret key\n", ErrRecord},
		{"csv without secret column", "serial,seed\nGAHT00000017," + b32 + "\n", ErrRecord},
		{"pskc short secret", pskcDoc("GAHT00000017", "MTIzNDU2Nzg5MA==", "totp"), token.ErrSeed},
		{"pskc unknown URN", pskcDoc("GAHT00000017", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "ocra"), ErrRecord},
		{"pskc duplicate", strings.Replace(pskcDoc("GAHT00000017", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "totp"), "</KeyContainer>", pskcPackage("GAHT00000017", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "totp")+"</KeyContainer>", 1), ErrDuplicate},
		{"pskc truncated", strings.TrimSuffix(pskcDoc("GAHT00000017", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "totp"), "</KeyContainer>\n"), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := OpenReader(strings.NewReader(tt.in), ReadOptions{})
			for err == nil {
				_, err = r.Next()
			}
			if err == io.EOF {
				t.Fatal("accepted")
			}
			if tt.want != nil && !errors.Is(err, tt.want) && !strings.Contains(err.Error(), tt.want.Error()) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), b32) || strings.Contains(err.Error(), "3132333435") {
				t.Fatalf("error leaks the secret: %v", err)
			}
			t.Log(err)
		})
	}
}

func pskcPackage(serial, secret, alg string) string {
	return `<KeyPackage><DeviceInfo><SerialNo>` + serial + `</SerialNo></DeviceInfo><Key Id="1" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:` + alg + `"><Data><Secret><PlainValue>` + secret + `</PlainValue></Secret></Data></Key></KeyPackage>`
}

func pskcDoc(serial, secret, alg string) string {
	return `<?xml version="1.0"?><KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">` + pskcPackage(serial, secret, alg) + "</KeyContainer>\n"
}

// RFC 6030 figure 5's PIN key is skipped: it is not a token.
func TestReadRFCFigures(t *testing.T) {
	for _, tt := range []struct {
		file string
		opts ReadOptions
	}{
		{"figure5", ReadOptions{}},
		{"figure6", ReadOptions{PreSharedKey: []byte{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12}}},
		{"figure7", ReadOptions{Passphrase: []byte("qwerty")}},
	} {
		r, err := Open(filepath.Join("pskc", "testdata", "rfc6030", tt.file+".pskcxml"), tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if rec.Serial != "987654321" || string(rec.Seed) != "12345678901234567890" || rec.Type != token.HOTP || rec.Spec.Digits != 8 {
			t.Errorf("%s: %+v", tt.file, rec)
		}
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("%s: second record: %v", tt.file, err)
		}
		r.Close()
	}
}

func TestCreateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	f, err := CreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("half")
	f.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("abort left %v", ents)
	}
	f, _ = CreateFile(path)
	f.WriteString("whole")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no effect after Commit
	if b, _ := os.ReadFile(path); string(b) != "whole" {
		t.Fatalf("file holds %q", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode())
	}
}

func FuzzCSVReader(f *testing.F) {
	f.Add("serial,secret,algorithm,digits,period,model\nGAHT00000017,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,SHA1,6,30,keyfob\n")
	f.Add("serial,secret_hex,type,counter\nGAHT00000017,3132333435363738393031323334353637383930,hotp,5\n")
	f.Add("# comment\nGAHT00000017, 3132333435363738393031323334353637383930, totp, 8, 60, sha256\n")
	f.Add(entraHeader + "\nalice@example.com,GAHT00000017,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,30,tokenlab,keyfob\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := OpenReader(strings.NewReader(in), ReadOptions{})
		if err != nil {
			if r != nil {
				t.Fatal("reader and error")
			}
			return
		}
		for range 1000 {
			rec, err := r.Next()
			if err != nil {
				if rec.Serial != "" || rec.Seed != nil {
					t.Fatal("record and error")
				}
				return
			}
			if len(rec.Seed) < token.MinSeedBytes || rec.Spec.Validate() != nil {
				t.Fatalf("bad record accepted: %v", rec.Spec)
			}
		}
	})
}

func TestSerialSet(t *testing.T) {
	var set serialSet
	for _, s := range []token.Serial{"GAHT00000018", "GAHT00000026", "ZZZZ99999999", "AAAA00000000", "987654321", "gaht00000018", "GAHT0000001X"} {
		if !set.add(s) {
			t.Errorf("%s reported as a duplicate", s)
		}
		if set.add(s) {
			t.Errorf("%s not reported as a duplicate", s)
		}
	}
	a, _ := packSerial("AAAB00000000")
	b, _ := packSerial("AAAA99999999")
	if a == b {
		t.Error("packSerial is not one-to-one")
	}
}

// Spreadsheets save CSV files with a byte-order mark.
func TestReadCSVWithBOM(t *testing.T) {
	in := "\xef\xbb\xbf" + entraHeader + "\r\nalice@example.com,GAHT00000018,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,60,tokenlab,keyfob\r\n"
	r, err := OpenReader(strings.NewReader(in), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if rec.UPN != "alice@example.com" || rec.Spec.Period != time.Minute || rec.Model != token.KeyFob {
		t.Errorf("record %+v", rec)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

// A failing random source is an error from Write or Close, never a file
// with predictable IVs.
func TestWriterRandFailure(t *testing.T) {
	recs := batchRecords(t, BatchConfig{Model: token.KeyFob, Prefix: "GAHT", Count: 300})
	if _, err := NewWriter(io.Discard, FormatPSKC, WriteOptions{PreSharedKey: make([]byte, 16), Rand: failingReader{}}); err == nil {
		t.Fatal("NewWriter succeeded without randomness for the MAC key")
	}
	w, err := NewWriter(io.Discard, FormatPSKC, WriteOptions{PreSharedKey: make([]byte, 16), Rand: &limitedRand{n: 64}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err = w.Write(r); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "entropy") {
		t.Fatalf("err = %v", err)
	}
}

// limitedRand gives n bytes, then fails.
type limitedRand struct{ n int }

func (l *limitedRand) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("entropy exhausted")
	}
	k := min(len(p), l.n)
	l.n -= k
	return k, nil
}

// RFC 6030 §4.3.1 allows only "oath.XX" and "iana.NNNN" manufacturers: a
// batch's free-text default stays out of PSKC, a compliant one goes in, and
// libpskc (pskctool -d) finds nothing non-compliant in either file.
func TestPSKCManufacturerCompliant(t *testing.T) {
	tool := testtool.Need(t, "/usr/bin/pskctool", "pskctool")
	for _, tt := range []struct {
		manufacturer, want string
	}{
		{"", ""}, // the batch default, "tokenlab", is free text
		{"ACME Tokens", ""},
		{"oath.TL", "oath.TL"},
		{"iana.32473", "iana.32473"},
	} {
		recs := batchRecords(t, BatchConfig{Model: token.KeyFob, Prefix: "GAHT", Count: 2, Manufacturer: tt.manufacturer})
		var buf bytes.Buffer
		w, err := NewWriter(&buf, FormatPSKC, WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		doc := buf.String()
		if has := strings.Contains(doc, "<Manufacturer>"); has != (tt.want != "") || (tt.want != "" && !strings.Contains(doc, "<Manufacturer>"+tt.want+"</Manufacturer>")) {
			t.Errorf("manufacturer %q: document has Manufacturer=%v, want %q", tt.manufacturer, has, tt.want)
		}
		path := filepath.Join(t.TempDir(), "m.pskcxml")
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tool, "-d", "--validate", path).CombinedOutput()
		if err != nil || strings.Contains(string(out), "non-compliant") || !strings.HasSuffix(string(out), "OK\n") {
			t.Errorf("manufacturer %q: pskctool -d --validate: %v\n%s", tt.manufacturer, err, out)
		}
	}
}
