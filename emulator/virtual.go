package emulator

import (
	"bytes"
	"fmt"
	"image/png"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// URI returns the device's otpauth URI, the text of its QR code. It
// carries the seed: hand it only to whoever enrols the device.
func (v *VirtualMFA) URI() (string, error) {
	k, err := v.Key()
	if err != nil {
		return "", err
	}
	defer k.Seed.Wipe()
	return k.URI(), nil
}

// QRPNG returns the otpauth URI as a QR code PNG of about size×size pixels
// (size 0 means 256), as IAM's QRCodePNG bootstrap carries it.
func (v *VirtualMFA) QRPNG(size int) ([]byte, error) {
	if size == 0 {
		size = 256
	}
	if size < 64 || size > 4096 {
		return nil, fmt.Errorf("%w: QR size %d, want 64 to 4096", ErrOptions, size)
	}
	uri, err := v.URI()
	if err != nil {
		return nil, err
	}
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("emulator: QR: %w", err)
	}
	if code, err = barcode.Scale(code, size, size); err != nil {
		return nil, fmt.Errorf("emulator: QR: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, code); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
