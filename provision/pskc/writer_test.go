package pskc

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/internal/testtool"
)

// sampleKeys returns n TOTP keys with distinct random secrets.
func sampleKeys(t testing.TB, n int) []*Key {
	t.Helper()
	keys := make([]*Key, n)
	for i := range keys {
		s := make([]byte, 20+(i%3)*12) // 20, 32 and 44 bytes
		rand.Read(s)
		keys[i] = &Key{
			Manufacturer: "tokenlab & co", SerialNo: fmt.Sprintf("GAHT%07d0", i), Model: "keyfob",
			Algorithm: TOTP, Issuer: "tokenlab", Suite: "HMAC-SHA1",
			ResponseLength: 6, Secret: s, TimeInterval: Uint64(30), Time: Uint64(0),
		}
	}
	return keys
}

type protection struct {
	name  string
	write WriterOptions
	read  ReaderOptions
}

func protections(t testing.TB) []protection {
	psk := mustHex(t, rfcPSK)
	return []protection{
		{"plain", WriterOptions{}, ReaderOptions{}},
		{"psk", WriterOptions{PreSharedKey: psk}, ReaderOptions{PreSharedKey: psk}},
		{"pbkdf2", WriterOptions{Passphrase: []byte("qwerty"), Iterations: 1000}, ReaderOptions{Passphrase: []byte("qwerty")}},
	}
}

func writeDoc(t testing.TB, keys []*Key, opts WriterOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := w.Write(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriterRoundTrip(t *testing.T) {
	keys := sampleKeys(t, 3*chunkSize+7) // several chunks, a partial last one
	for _, p := range protections(t) {
		t.Run(p.name, func(t *testing.T) {
			doc := writeDoc(t, keys, p.write)
			got, err := readFrom(bytes.NewReader(doc), p.read)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(keys) {
				t.Fatalf("read %d keys, wrote %d", len(got), len(keys))
			}
			for i, k := range got {
				w := keys[i]
				if k.SerialNo != w.SerialNo || k.ID != w.SerialNo || !bytes.Equal(k.Secret, w.Secret) || k.Manufacturer != w.Manufacturer || *k.TimeInterval != 30 || k.ResponseLength != 6 || k.Suite != "HMAC-SHA1" {
					t.Fatalf("key %d differs: %+v", i, k)
				}
			}
		})
	}
}

func TestWriterEmptyAndOptions(t *testing.T) {
	doc := writeDoc(t, nil, WriterOptions{})
	if keys, err := readFrom(bytes.NewReader(doc), ReaderOptions{}); err != nil || len(keys) != 0 {
		t.Fatalf("empty document: %d keys, %v", len(keys), err)
	}
	if _, err := NewWriter(&bytes.Buffer{}, WriterOptions{PreSharedKey: []byte("short")}); err == nil {
		t.Error("a 5-byte pre-shared key was accepted")
	}
	if _, err := NewWriter(&bytes.Buffer{}, WriterOptions{PreSharedKey: make([]byte, 16), Passphrase: []byte("x")}); err == nil {
		t.Error("both a key and a passphrase were accepted")
	}
}

// A wrong key or passphrase, or a changed ciphertext, must be refused with
// ErrMAC or ErrDecrypt, naming the key package, and return no key.
func TestWrongKeyAndTampering(t *testing.T) {
	keys := sampleKeys(t, 5)
	psk := mustHex(t, rfcPSK)
	doc := writeDoc(t, keys, WriterOptions{PreSharedKey: psk})
	wrong := bytes.Repeat([]byte{7}, 16)
	for _, tt := range []struct {
		name string
		doc  []byte
		opts ReaderOptions
	}{
		{"wrong key", doc, ReaderOptions{PreSharedKey: wrong}},
		{"tampered value", tamper(t, doc, 3), ReaderOptions{PreSharedKey: psk}},
		{"wrong passphrase", writeDoc(t, keys, WriterOptions{Passphrase: []byte("qwerty"), Iterations: 1000}), ReaderOptions{Passphrase: []byte("azerty")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readFrom(bytes.NewReader(tt.doc), tt.opts)
			if !errors.Is(err, ErrMAC) && !errors.Is(err, ErrDecrypt) {
				t.Fatalf("err = %v, want ErrMAC or ErrDecrypt", err)
			}
			if !strings.Contains(err.Error(), "key package") {
				t.Errorf("error %q names no key package", err)
			}
			t.Log(err)
			_ = got
		})
	}
}

// tamper flips a character in the nth CipherValue of a key package.
func tamper(t testing.TB, doc []byte, n int) []byte {
	t.Helper()
	out := bytes.Clone(doc)
	idx := 0
	for range n + 1 { // the first CipherValue is the MAC key's
		j := bytes.Index(out[idx:], []byte("<xenc:CipherValue>"))
		if j < 0 {
			t.Fatal("no CipherValue to tamper with")
		}
		idx += j + len("<xenc:CipherValue>")
	}
	if out[idx+30] == 'A' {
		out[idx+30] = 'B'
	} else {
		out[idx+30] = 'A'
	}
	return out
}

// writeTestFiles writes a plaintext, a PSK and a PBKDF2 document of keys.
func writeTestFiles(t *testing.T, keys []*Key) map[string]string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{}
	for _, p := range protections(t) {
		path := filepath.Join(dir, p.name+".pskcxml")
		if err := os.WriteFile(path, writeDoc(t, keys, p.write), 0o600); err != nil {
			t.Fatal(err)
		}
		files[p.name] = path
	}
	return files
}

// pskctool --validate checks a document against RFC 6030's XML Schema.
func TestPskctoolValidatesOurFiles(t *testing.T) {
	tool := testtool.Need(t, "/usr/bin/pskctool", "pskctool")
	for name, path := range writeTestFiles(t, sampleKeys(t, 3)) {
		// libpskc's own parser skips EncryptionKey and EncryptedValue
		// with a "parse error" warning (it does so for RFC 6030's figure 6
		// too); the schema validation is what counts.
		out, err := exec.Command(tool, "--validate", path).CombinedOutput()
		if err != nil || !strings.HasSuffix(string(out), "OK\n") || strings.Contains(string(out), "validity error") {
			t.Errorf("%s: pskctool --validate: %v\n%s", name, err, out)
		}
	}
}

const pyDump = `
import binascii, sys, pskc
p = pskc.PSKC(sys.argv[1])
if sys.argv[2] == 'psk':
    p.encryption.key = binascii.unhexlify(sys.argv[3])
elif sys.argv[2] == 'pbkdf2':
    p.encryption.derive_key(sys.argv[3])
for k in p.keys:
    print(k.serial, binascii.hexlify(k.secret).decode(), k.algorithm, k.response_length, k.time_interval, k.algorithm_suite)
`

// python-pskc must read all three kinds of document we write and find the
// same serials and secrets.
func TestPythonPSKCReadsOurFiles(t *testing.T) {
	py := testtool.NeedPython(t, "pskc", "python3-pskc")
	keys := sampleKeys(t, 20)
	var want strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&want, "%s %x %s 6 30 HMAC-SHA1\n", k.SerialNo, k.Secret, TOTP)
	}
	secret := map[string]string{"plain": "", "psk": rfcPSK, "pbkdf2": "qwerty"}
	for name, path := range writeTestFiles(t, keys) {
		out, err := exec.Command(py, "-c", pyDump, path, name, secret[name]).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: python-pskc: %v\n%s", name, err, out)
		}
		if string(out) != want.String() {
			t.Errorf("%s: python-pskc read\n%s\nwant\n%s", name, out, want.String())
		}
	}
}

const pyWrite = `
import binascii, sys, pskc
p = pskc.PSKC()
for i, (serial, secret) in enumerate(zip(sys.argv[3::2], sys.argv[4::2])):
    p.add_key(id='k%d' % i, serial=serial, secret=binascii.unhexlify(secret), algorithm='urn:ietf:params:xml:ns:keyprov:pskc:totp', response_length=8, time_interval=60, manufacturer='python')
mode = sys.argv[2]
if mode == 'psk':
    p.encryption.setup_preshared_key(key=binascii.unhexlify('` + rfcPSK + `'))
elif mode == 'pbkdf2':
    p.encryption.setup_pbkdf2('qwerty', iterations=1000)
p.write(sys.argv[1])
`

// We must read what python-pskc writes, in all three protections.
func TestReadPythonPSKCFiles(t *testing.T) {
	py := testtool.NeedPython(t, "pskc", "python3-pskc")
	keys := sampleKeys(t, 4)
	for _, p := range protections(t) {
		t.Run(p.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "py.pskcxml")
			args := []string{"-c", pyWrite, path, p.name}
			for _, k := range keys {
				args = append(args, k.SerialNo, hex.EncodeToString(k.Secret))
			}
			if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
				t.Fatalf("python-pskc: %v\n%s", err, out)
			}
			got, err := readAll(t, path, p.read)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(keys) {
				t.Fatalf("%d keys, want %d", len(got), len(keys))
			}
			for i, k := range got {
				if k.SerialNo != keys[i].SerialNo || !bytes.Equal(k.Secret, keys[i].Secret) || k.ResponseLength != 8 || *k.TimeInterval != 60 || k.Algorithm != TOTP {
					t.Errorf("key %d = %+v", i, k)
				}
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	psk := mustHex(f, rfcPSK)
	f.Fuzz(func(t *testing.T, doc []byte) {
		r, err := NewReader(bytes.NewReader(doc), ReaderOptions{PreSharedKey: psk})
		if err != nil {
			if r != nil {
				t.Fatal("NewReader returned a reader and an error")
			}
			return
		}
		for range 1000 {
			k, err := r.Next()
			if err != nil {
				if k != nil {
					t.Fatal("Next returned a key and an error")
				}
				if _, err2 := r.Next(); err2 == nil {
					t.Fatal("Next succeeded after an error")
				}
				return
			}
		}
	})
}

// python-pskc's own output fails RFC 6030's schema (no Key/@Id, no
// ResponseFormat/@Encoding, an empty EncryptionKey) where ours passes:
// this records the difference, so a change on either side shows.
func TestPskctoolRefusesPythonPSKCOutput(t *testing.T) {
	tool := testtool.Need(t, "/usr/bin/pskctool", "pskctool")
	py := testtool.NeedPython(t, "pskc", "python3-pskc")
	path := filepath.Join(t.TempDir(), "py.pskcxml")
	if out, err := exec.Command(py, "-c", pyWrite, path, "psk", "GAHT00000018", "3132333435363738393031323334353637383930").CombinedOutput(); err != nil {
		t.Fatalf("python-pskc: %v\n%s", err, out)
	}
	out, err := exec.Command(tool, "--validate", path).CombinedOutput()
	if err == nil && !strings.Contains(string(out), "validity error") {
		t.Logf("pskctool now accepts python-pskc's output:\n%s", out)
	}
}
