package hw

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Magic starts every flash image file.
const Magic = "TLFLASH\x00"

// FormatVersion is the version of the image container this package writes.
const FormatVersion = 1

// MaxImageSize bounds an image file; simulated devices hold kilobytes.
const MaxImageSize = 16 << 20

// Errors from [ParseImage], [LoadImage] and [LoadFlash]. Each is matched
// with errors.Is; the returned error also names the file.
var (
	// ErrTruncated: the image ends before its header, payload or checksum.
	ErrTruncated = errors.New("hw: flash image truncated")
	// ErrForeign: the bytes are not a flash image, or an image of another kind.
	ErrForeign = errors.New("hw: not a flash image of the expected kind")
	// ErrVersion: the container or the kind's payload version is unknown.
	ErrVersion = errors.New("hw: unsupported flash image version")
	// ErrCorrupt: the checksum does not match, or the payload does not decode.
	ErrCorrupt = errors.New("hw: flash image corrupt")
	// ErrWrite: a simulated write fault (see [Flash.SetBadWrite]) or a full flash.
	ErrWrite = errors.New("hw: flash write failed")
)

// Image is a flash image: a kind tag, the kind's payload version and the
// payload bytes. Its file form (see the package doc) adds a checksum.
type Image struct {
	Kind    string
	Version uint16
	Payload []byte
}

// MarshalBinary encodes the image in the file format.
func (im Image) MarshalBinary() ([]byte, error) {
	if im.Kind == "" || len(im.Kind) > 255 {
		return nil, fmt.Errorf("hw: image kind %q must be 1 to 255 bytes", im.Kind)
	}
	if len(im.Payload) > MaxImageSize-len(Magic)-64-len(im.Kind) {
		return nil, fmt.Errorf("hw: image payload of %d bytes is too large", len(im.Payload))
	}
	b := make([]byte, 0, len(Magic)+2+1+len(im.Kind)+2+4+len(im.Payload)+sha256.Size)
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint16(b, FormatVersion)
	b = append(b, byte(len(im.Kind)))
	b = append(b, im.Kind...)
	b = binary.BigEndian.AppendUint16(b, im.Version)
	b = binary.BigEndian.AppendUint32(b, uint32(len(im.Payload)))
	b = append(b, im.Payload...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...), nil
}

// ParseImage decodes an image file's bytes. If kind is not empty, an image
// of another kind is refused with ErrForeign.
func ParseImage(b []byte, kind string) (Image, error) {
	if len(b) < len(Magic) {
		if bytes.HasPrefix([]byte(Magic), b) {
			return Image{}, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b))
		}
		return Image{}, fmt.Errorf("%w: no %q magic", ErrForeign, "TLFLASH")
	}
	if string(b[:len(Magic)]) != Magic {
		return Image{}, fmt.Errorf("%w: no %q magic", ErrForeign, "TLFLASH")
	}
	p := b[len(Magic):]
	if len(p) < 3 {
		return Image{}, fmt.Errorf("%w: header cut short", ErrTruncated)
	}
	if v := binary.BigEndian.Uint16(p); v != FormatVersion {
		return Image{}, fmt.Errorf("%w: container format %d, this build reads %d", ErrVersion, v, FormatVersion)
	}
	kl := int(p[2])
	p = p[3:]
	if len(p) < kl+2+4 {
		return Image{}, fmt.Errorf("%w: header cut short", ErrTruncated)
	}
	im := Image{Kind: string(p[:kl])}
	p = p[kl:]
	im.Version = binary.BigEndian.Uint16(p)
	n := binary.BigEndian.Uint32(p[2:])
	p = p[6:]
	if uint64(len(p)) < uint64(n)+sha256.Size {
		return Image{}, fmt.Errorf("%w: payload of %d bytes and checksum, %d bytes left", ErrTruncated, n, len(p))
	}
	if uint64(len(p)) > uint64(n)+sha256.Size {
		return Image{}, fmt.Errorf("%w: %d bytes after the checksum", ErrCorrupt, uint64(len(p))-uint64(n)-sha256.Size)
	}
	body := b[:len(b)-sha256.Size]
	sum := sha256.Sum256(body)
	if !bytes.Equal(sum[:], b[len(b)-sha256.Size:]) {
		return Image{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if kind != "" && im.Kind != kind {
		return Image{}, fmt.Errorf("%w: image kind %q, want %q", ErrForeign, im.Kind, kind)
	}
	im.Payload = bytes.Clone(p[:n])
	return im, nil
}

// LoadImage reads and checks an image file of the given kind ("" for any).
func LoadImage(path, kind string) (Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return Image{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Image{}, err
	}
	if st.Size() > MaxImageSize {
		return Image{}, fmt.Errorf("%s: %w: %d bytes is over the %d limit", path, ErrForeign, st.Size(), MaxImageSize)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return Image{}, fmt.Errorf("%s: %w", path, err)
	}
	im, err := ParseImage(b, kind)
	if err != nil {
		return Image{}, fmt.Errorf("%s: %w", path, err)
	}
	return im, nil
}

// SaveImage writes im to path atomically: a temporary file in the same
// directory, fsync, rename, fsync of the directory. A crash leaves either
// the old image or the new one, never a mix.
func SaveImage(path string, im Image) error { return writeImage(path, im, false) }

// CreateImage is SaveImage for a new file: it fails with an error matching
// fs.ErrExist if path exists, atomically (a hard link of the synced
// temporary file), so two writers racing for one path cannot both win.
func CreateImage(path string, im Image) error { return writeImage(path, im, true) }

func writeImage(path string, im Image, excl bool) error {
	b, err := im.MarshalBinary()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if excl {
		err = os.Link(tmp, path)
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Flash is a device's non-volatile memory: named sections of bytes
// ("seed", "state", "rtc"...) inside an [Image] of one kind. Firmware reads
// and writes sections; the device's owner saves and loads the whole image.
// It is safe for concurrent use.
//
// The payload encoding of the sections is, repeated in name order:
// uint8 name length, name, uint32 data length, data (big-endian).
type Flash struct {
	mu       sync.Mutex
	kind     string
	version  uint16
	sec      map[string][]byte
	badWrite bool
	limit    int
}

// NewFlash returns an empty flash memory for images of kind at version.
func NewFlash(kind string, version uint16) *Flash {
	return &Flash{kind: kind, version: version, sec: map[string][]byte{}, limit: 64 << 10}
}

// Kind returns the image kind.
func (f *Flash) Kind() string { return f.kind }

// Version returns the kind's payload version.
func (f *Flash) Version() uint16 { return f.version }

// SetBadWrite injects (or clears) a write fault: while set, every [Flash.Put]
// stores the data with one bit flipped and reports success, as a worn or
// defective cell does. Firmware that verifies after writing notices.
func (f *Flash) SetBadWrite(bad bool) {
	f.mu.Lock()
	f.badWrite = bad
	f.mu.Unlock()
}

// Put writes section name. It fails with ErrWrite if the flash is full.
func (f *Flash) Put(name string, data []byte) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("%w: section name %q", ErrWrite, name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	size := 0
	for n, d := range f.sec {
		if n != name {
			size += 5 + len(n) + len(d)
		}
	}
	if size+5+len(name)+len(data) > f.limit {
		return fmt.Errorf("%w: flash full", ErrWrite)
	}
	d := bytes.Clone(data)
	if d == nil {
		d = []byte{}
	}
	if f.badWrite && len(d) > 0 {
		d[len(d)/2] ^= 0x10
	}
	f.sec[name] = d
	return nil
}

// Get returns a copy of section name, and whether it exists.
func (f *Flash) Get(name string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.sec[name]
	return bytes.Clone(d), ok
}

// Erase removes section name; erasing a missing section is not an error.
// Erase is not affected by the bad-write fault.
func (f *Flash) Erase(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.sec[name]; ok {
		clear(d)
		delete(f.sec, name)
	}
}

// Sections returns the section names in order.
func (f *Flash) Sections() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.sec))
	for n := range f.sec {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Image returns the flash contents as an image.
func (f *Flash) Image() Image {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.sec))
	for n := range f.sec {
		names = append(names, n)
	}
	sort.Strings(names)
	var p []byte
	for _, n := range names {
		p = append(p, byte(len(n)))
		p = append(p, n...)
		p = binary.BigEndian.AppendUint32(p, uint32(len(f.sec[n])))
		p = append(p, f.sec[n]...)
	}
	return Image{Kind: f.kind, Version: f.version, Payload: p}
}

// FlashFromImage decodes the sections of an image. It does not check the
// kind's version; callers that know several do.
func FlashFromImage(im Image) (*Flash, error) {
	f := NewFlash(im.Kind, im.Version)
	p := im.Payload
	for len(p) > 0 {
		nl := int(p[0])
		if len(p) < 1+nl+4 {
			return nil, fmt.Errorf("%w: section table cut short", ErrCorrupt)
		}
		name := string(p[1 : 1+nl])
		dl := binary.BigEndian.Uint32(p[1+nl:])
		p = p[1+nl+4:]
		if uint64(len(p)) < uint64(dl) {
			return nil, fmt.Errorf("%w: section %q cut short", ErrCorrupt, name)
		}
		if _, dup := f.sec[name]; dup || name == "" {
			return nil, fmt.Errorf("%w: section %q repeated or unnamed", ErrCorrupt, name)
		}
		f.sec[name] = bytes.Clone(p[:dl])
		p = p[dl:]
	}
	return f, nil
}

// Save writes the flash contents to path atomically (see [SaveImage]).
func (f *Flash) Save(path string) error { return SaveImage(path, f.Image()) }

// LoadFlash reads a flash image file of the given kind, refusing a corrupt,
// truncated or foreign one, or one whose version is above maxVersion.
func LoadFlash(path, kind string, maxVersion uint16) (*Flash, error) {
	im, err := LoadImage(path, kind)
	if err != nil {
		return nil, err
	}
	if im.Version == 0 || im.Version > maxVersion {
		return nil, fmt.Errorf("%s: %w: %s image version %d, this build reads 1 to %d", path, ErrVersion, kind, im.Version, maxVersion)
	}
	f, err := FlashFromImage(im)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
