package emulator

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/firmware-sim/otpfw"
	"github.com/tokenlab/tokenlab/token"
)

// Errors from [Home].
var (
	// ErrNotFound: no device with that serial, ARN or name.
	ErrNotFound = errors.New("emulator: no such device")
	// ErrExists: a device with that serial or ARN is already there.
	ErrExists = errors.New("emulator: device already exists")
)

// Home is a directory of emulated devices, one flash image file each in
// DIR/otp/. Devices are found by serial, by virtual ARN, or by a virtual
// device's name alone. Home does no locking between processes: the last
// Save wins, and each Save is atomic.
type Home struct {
	dir  string
	time hw.TimeSource
}

// OpenHome opens (creating it if needed) the device directory under dir.
// Devices loaded from it live on src (nil: the system clock).
func OpenHome(dir string, src hw.TimeSource) (*Home, error) {
	if dir == "" {
		return nil, errors.New("emulator: empty home directory")
	}
	if src == nil {
		src = hw.SystemTime
	}
	if err := os.MkdirAll(filepath.Join(dir, "otp"), 0o700); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	return &Home{dir: dir, time: src}, nil
}

// Dir returns the home directory.
func (h *Home) Dir() string { return h.dir }

// fileName maps a device id to a file name: safe characters kept, others
// escaped as %XX, long ids hashed.
func fileName(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0 {
			if c == '.' && i == 0 {
				fmt.Fprintf(&b, "%%%02X", c)
				continue
			}
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	s := b.String()
	if len(s) > 200 {
		sum := sha256.Sum256([]byte(id))
		s = s[:100] + "~" + hex.EncodeToString(sum[:16])
	}
	return s + ".img"
}

// Path returns the image file of the device with id (serial or ARN).
func (h *Home) Path(id string) string { return filepath.Join(h.dir, "otp", fileName(id)) }

// Emulator sections stored beside the firmware's in a device image: the
// simulated hardware's state, which a real device keeps in its RTC and
// battery rather than in flash.
const (
	secRTC     = "emu.rtc"
	secBattery = "emu.battery"
	secDisplay = "emu.display" // display timeout (int64 ns), last shown text and time
	secARN     = "emu.arn"
)

// Image returns the token's flash image with its hardware state added.
func (t *Token) Image() (hw.Image, error) {
	fl, err := hw.FlashFromImage(t.fw.Flash().Image())
	if err != nil {
		return hw.Image{}, err
	}
	rtc, _ := t.fw.Clock().State().MarshalBinary()
	if err := fl.Put(secRTC, rtc); err != nil {
		return hw.Image{}, err
	}
	if b := t.fw.Battery(); b != nil {
		p, _ := b.MarshalBinary()
		if err := fl.Put(secBattery, p); err != nil {
			return hw.Image{}, err
		}
	}
	d := binary.BigEndian.AppendUint64(nil, uint64(t.fw.Display().Timeout()))
	if text, shown := t.fw.Display().Snapshot(); text != "" && len(text) < 64 {
		d = binary.BigEndian.AppendUint64(d, uint64(shown.Unix()))
		d = binary.BigEndian.AppendUint32(d, uint32(shown.Nanosecond()))
		d = append(d, text...)
	}
	if err := fl.Put(secDisplay, d); err != nil {
		return hw.Image{}, err
	}
	if t.Model() == token.Virtual {
		if err := fl.Put(secARN, []byte(t.arn.String())); err != nil {
			return hw.Image{}, err
		}
	}
	return fl.Image(), nil
}

// Restore rebuilds a token from its image, on time source src.
func Restore(im hw.Image, src hw.TimeSource) (*Token, error) {
	if im.Kind != otpfw.FlashKind {
		return nil, fmt.Errorf("%w: image kind %q, want %q", hw.ErrForeign, im.Kind, otpfw.FlashKind)
	}
	if im.Version != otpfw.FlashVersion {
		return nil, fmt.Errorf("%w: otp image version %d, this build reads %d", hw.ErrVersion, im.Version, otpfw.FlashVersion)
	}
	if src == nil {
		src = hw.SystemTime
	}
	fl, err := hw.FlashFromImage(im)
	if err != nil {
		return nil, err
	}
	take := func(name string) ([]byte, bool) {
		b, ok := fl.Get(name)
		fl.Erase(name)
		return b, ok
	}
	var st hw.ClockState
	if b, ok := take(secRTC); !ok {
		return nil, fmt.Errorf("%w: no clock state", hw.ErrCorrupt)
	} else if err := st.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: %v", hw.ErrCorrupt, err)
	}
	var bat *hw.Battery
	if b, ok := take(secBattery); ok {
		bat = new(hw.Battery)
		if err := bat.UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("%w: %v", hw.ErrCorrupt, err)
		}
	}
	var disp *hw.Display
	if b, ok := take(secDisplay); ok {
		// timeout (int64 ns), then optionally what it shows: Unix seconds
		// (int64), nanoseconds (uint32) and the text.
		if (len(b) != 8 && len(b) < 8+12+1) || len(b) > 8+12+64 || int64(binary.BigEndian.Uint64(b)) < 0 {
			return nil, fmt.Errorf("%w: bad display section", hw.ErrCorrupt)
		}
		disp = hw.NewDisplay(time.Duration(binary.BigEndian.Uint64(b)))
		if len(b) > 8 {
			ns := binary.BigEndian.Uint32(b[16:])
			if ns >= 1e9 {
				return nil, fmt.Errorf("%w: bad display section", hw.ErrCorrupt)
			}
			disp.Restore(string(b[20:]), time.Unix(int64(binary.BigEndian.Uint64(b[8:])), int64(ns)).UTC())
		}
	}
	arnText, hasARN := take(secARN)
	fw, err := otpfw.New(otpfw.Config{Clock: hw.RestoreClock(src, st), Flash: fl, Display: disp, Battery: bat})
	if err != nil {
		return nil, err
	}
	t := &Token{fw: fw, time: src}
	if fw.Model() == token.Virtual {
		if !hasARN {
			return nil, fmt.Errorf("%w: virtual device without an ARN", hw.ErrCorrupt)
		}
		if t.arn, err = token.ParseMFAARN(string(arnText)); err != nil {
			return nil, fmt.Errorf("%w: %v", hw.ErrCorrupt, err)
		}
	}
	return t, nil
}

// Create saves a new token, refusing (atomically, so concurrent stations
// of a production line cannot both win) one whose id is taken.
func (h *Home) Create(t *Token) error {
	im, err := t.Image()
	if err != nil {
		return err
	}
	if err := hw.CreateImage(h.Path(t.ID()), im); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, t.ID())
		}
		return err
	}
	return nil
}

// Save writes the token's image atomically, replacing any previous one.
func (h *Home) Save(t *Token) error {
	im, err := t.Image()
	if err != nil {
		return err
	}
	return hw.SaveImage(h.Path(t.ID()), im)
}

// resolve finds the file of id: a serial, an ARN, or a virtual device name.
func (h *Home) resolve(id string) (string, error) {
	p := h.Path(id)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if !token.IsARN(id) && token.ValidMFAName(id) == nil {
		// A bare virtual device name: find ARNs ending in /NAME.
		ents, err := os.ReadDir(filepath.Join(h.dir, "otp"))
		if err != nil {
			return "", fmt.Errorf("emulator: %w", err)
		}
		var found []string
		suffix := fileName("/" + id)
		suffix = strings.TrimSuffix(suffix, ".img")
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, "arn%3Aaws%3Aiam%3A%3A") && strings.HasSuffix(n, suffix+".img") {
				found = append(found, n)
			}
		}
		if len(found) == 1 {
			return filepath.Join(h.dir, "otp", found[0]), nil
		}
		if len(found) > 1 {
			return "", fmt.Errorf("emulator: %d virtual devices are named %q; give the ARN", len(found), id)
		}
	}
	return "", fmt.Errorf("%w: %q", ErrNotFound, id)
}

// Load reads the device with id (serial, ARN, or virtual device name).
// A corrupt, truncated or foreign image is refused with an error matching
// hw.ErrCorrupt, hw.ErrTruncated, hw.ErrForeign or hw.ErrVersion.
func (h *Home) Load(id string) (*Token, error) {
	p, err := h.resolve(id)
	if err != nil {
		return nil, err
	}
	return h.loadFile(p)
}

// LoadAt is Load with a time source other than the home's (a press at a
// given instant).
func (h *Home) LoadAt(id string, src hw.TimeSource) (*Token, error) {
	p, err := h.resolve(id)
	if err != nil {
		return nil, err
	}
	return loadFile(p, src)
}

func (h *Home) loadFile(p string) (*Token, error) { return loadFile(p, h.time) }

func loadFile(p string, src hw.TimeSource) (*Token, error) {
	im, err := hw.LoadImage(p, otpfw.FlashKind)
	if err != nil {
		return nil, err
	}
	t, err := Restore(im, src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return t, nil
}

// Remove deletes the device with id.
func (h *Home) Remove(id string) error {
	p, err := h.resolve(id)
	if err != nil {
		return err
	}
	return os.Remove(p)
}

// Entry is one device in a listing.
type Entry struct {
	ID    string // serial or ARN
	Path  string
	Token *Token // nil when Err is set
	Err   error  // the image could not be read
}

// List returns every device, ordered by id. Unreadable images are listed
// with their error, so one bad file does not hide the rest.
func (h *Home) List() ([]Entry, error) {
	dir := filepath.Join(h.dir, "otp")
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("emulator: %w", err)
	}
	var out []Entry
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".img") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		t, err := h.loadFile(p)
		en := Entry{Path: p, Token: t, Err: err}
		if t != nil {
			en.ID = t.ID()
		} else {
			en.ID = strings.TrimSuffix(e.Name(), ".img")
		}
		out = append(out, en)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
