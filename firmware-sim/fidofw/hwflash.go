package fidofw

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
)

// Flash image identity of a FIDO key (package hw's image format).
const (
	FlashKind    = "fido" // the image kind tag
	FlashVersion = 1      // the payload version this firmware writes
	flashSection = "state"
)

// ErrFlashVerify is returned when what was written to flash does not read
// back the same (a worn cell, or hw.Flash's injected bad-write fault).
var ErrFlashVerify = errors.New("fidofw: flash write did not verify")

// HWFlash keeps the firmware state in section "state" of an [hw.Flash],
// verifying every write, and saves the whole image to Path (when set)
// after each write, so the key survives the process.
type HWFlash struct {
	F    *hw.Flash
	Path string
}

// NewHWFlash returns a blank flash of kind "fido", kept in memory.
func NewHWFlash() *HWFlash { return &HWFlash{F: hw.NewFlash(FlashKind, FlashVersion)} }

// OpenHWFlash loads the image file at path, or starts a blank flash that
// will be written there when path does not exist yet.
func OpenHWFlash(path string) (*HWFlash, error) {
	f, err := hw.LoadFlash(path, FlashKind, FlashVersion)
	if err != nil {
		if !errors.Is(err, fsNotExist) {
			return nil, err
		}
		f = hw.NewFlash(FlashKind, FlashVersion)
	}
	return &HWFlash{F: f, Path: path}, nil
}

// Load returns the state section, nil for a blank flash.
func (h *HWFlash) Load() ([]byte, error) {
	b, ok := h.F.Get(flashSection)
	if !ok {
		return nil, nil
	}
	return b, nil
}

// Save writes the state section, reads it back, and saves the image file.
func (h *HWFlash) Save(b []byte) error {
	if err := h.F.Put(flashSection, b); err != nil {
		return err
	}
	if got, _ := h.F.Get(flashSection); !bytes.Equal(got, b) {
		return ErrFlashVerify
	}
	if h.Path != "" {
		if err := os.MkdirAll(filepath.Dir(h.Path), 0o700); err != nil {
			return err
		}
		return h.F.Save(h.Path)
	}
	return nil
}

// ButtonPresence is a user who presses the key's button: each request
// waits for the next press of b, at most timeout (0 means
// DefaultPresenceTimeout).
func ButtonPresence(b *hw.Button, timeout time.Duration) Presence {
	if timeout <= 0 {
		timeout = DefaultPresenceTimeout
	}
	return PresenceFunc(func(ctx context.Context, _ PresenceRequest) error {
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := b.Wait(c); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return ErrPresenceTimeout
		}
		return nil
	})
}

var fsNotExist = fs.ErrNotExist
