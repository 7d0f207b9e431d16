package label

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/internal/testtool"
	"github.com/tokenlab/tokenlab/token"
)

// sample returns hardware labels and virtual ones with otpauth URIs.
func sample(t testing.TB, hw, virtual int) ([]Label, []string) {
	t.Helper()
	var ls []Label
	var want []string
	for i := range hw + virtual {
		s, _ := token.NewSerial("GAHT", uint64(100+i))
		l := Label{Serial: s}
		if i >= hw {
			seed := token.Seed(bytes.Repeat([]byte{byte(i)}, 20))
			l.URI = token.Key{Type: token.TOTP, Issuer: "tokenlab", Account: string(s), Seed: seed, Spec: token.DefaultSpec}.URI()
			want = append(want, l.URI)
		}
		ls = append(ls, l)
		want = append(want, string(s))
	}
	slices.Sort(want)
	return ls, want
}

// zbar decodes every barcode in the PNG files and returns their contents.
func zbar(t *testing.T, files ...string) []string {
	t.Helper()
	tool := testtool.Need(t, "/usr/bin/zbarimg", "zbar-tools")
	var got []string
	for _, f := range files {
		out, err := exec.Command(tool, "-q", "--raw", f).Output()
		if err != nil {
			t.Fatalf("zbarimg %s: %v", f, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" {
				got = append(got, line)
			}
		}
	}
	slices.Sort(got)
	return got
}

func TestPNGSheetDecodes(t *testing.T) {
	ls, want := sample(t, 26, 4) // two pages
	var buf bytes.Buffer
	s := NewPNG(&buf)
	for _, l := range ls {
		if err := s.Add(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "labels.png")
	os.WriteFile(path, buf.Bytes(), 0o600)
	if got := zbar(t, path); !slices.Equal(got, want) {
		t.Fatalf("zbarimg read %d codes:\n%q\nwant %d:\n%q", len(got), got, len(want), want)
	}
}

// The PDF keeps each barcode as a lossless grey PNG stream; the test puts
// each back into a PNG file and decodes it with zbarimg.
func TestPDFSheetDecodes(t *testing.T) {
	ls, want := sample(t, 25, 3)
	var buf bytes.Buffer
	s := NewPDF(&buf)
	for _, l := range ls {
		if err := s.Add(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	pdf := buf.Bytes()
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatal("not a PDF")
	}
	if n := bytes.Count(pdf, []byte("/Type /Page\n")); n != 2 {
		t.Errorf("%d pages, want 2", n)
	}
	for _, l := range ls {
		if !bytes.Contains(pdf, []byte("("+string(l.Serial)+")")) {
			t.Errorf("serial %s not printed as text", l.Serial)
		}
	}
	dir := t.TempDir()
	var files []string
	for i, img := range pdfImages(t, pdf) {
		p := filepath.Join(dir, fmt.Sprintf("img%d.png", i))
		os.WriteFile(p, img, 0o600)
		files = append(files, p)
	}
	if got := zbar(t, files...); !slices.Equal(got, want) {
		t.Fatalf("zbarimg read %d codes:\n%q\nwant %d:\n%q", len(got), got, len(want), want)
	}
}

var imageObj = regexp.MustCompile(`/Subtype /Image\s*/Width (\d+)\s*/Height (\d+)\s*/ColorSpace /DeviceGray\s*/BitsPerComponent 8\s*/Filter /FlateDecode\s*/DecodeParms <<[^>]*>>\s*/Length (\d+)>>\s*stream\r?\n`)

// pdfImages rebuilds PNG files from the PDF's grey image streams.
func pdfImages(t *testing.T, pdf []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for _, m := range imageObj.FindAllSubmatchIndex(pdf, -1) {
		w, _ := strconv.Atoi(string(pdf[m[2]:m[3]]))
		h, _ := strconv.Atoi(string(pdf[m[4]:m[5]]))
		n, _ := strconv.Atoi(string(pdf[m[6]:m[7]]))
		data := pdf[m[1] : m[1]+n]
		var png bytes.Buffer
		png.WriteString("\x89PNG\r\n\x1a\n")
		ihdr := make([]byte, 13)
		binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
		binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
		ihdr[8] = 8 // bit depth; colour type 0 (grey)
		chunk(&png, "IHDR", ihdr)
		chunk(&png, "IDAT", data)
		chunk(&png, "IEND", nil)
		out = append(out, png.Bytes())
	}
	if len(out) == 0 {
		t.Fatal("no images found in the PDF")
	}
	return out
}

func chunk(b *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	b.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	b.Write(n[:])
}

func TestRefused(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "labels.jpg"); err == nil {
		t.Error("a .jpg sheet was accepted")
	}
	long := token.Serial(strings.Repeat("A", 60))
	if err := NewPDF(&bytes.Buffer{}).Add(Label{Serial: long}); err == nil {
		t.Error("a 60-character serial fit a PDF label")
	}
}
