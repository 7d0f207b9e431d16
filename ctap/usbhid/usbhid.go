// Package usbhid reaches FIDO security keys over USB HID through
// github.com/karalabe/hid (cgo; it vendors hidapi and libusb). A key is
// found by its HID usage page 0xF1D0 (FIDO Alliance, CTAP 2.1 §11.2.8.1)
// and opened by path; the open Device is an io.ReadWriteCloser of 64-byte
// reports for package ctaphid.
//
//	keys, err := usbhid.Enumerate()   // no key: empty list, nil error
//	dev, err := usbhid.Open(keys[0].Path)
//	ch, err := ctaphid.NewDevice(dev).Open(ctx)
package usbhid

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/karalabe/hid"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// FIDO HID usage (CTAP 2.1 §11.2.8.1).
const (
	UsagePage = 0xF1D0 // FIDO Alliance usage page
	Usage     = 0x01   // CTAPHID
)

// Errors returned by Open.
var (
	// ErrNotFound is returned when no FIDO key has the given path.
	ErrNotFound = errors.New("usbhid: no FIDO key at that path")
	// ErrPermission is returned when the key exists but may not be opened;
	// on Linux the hint is a udev rule (see PermissionHint).
	ErrPermission = errors.New("usbhid: permission denied opening the key")
	// ErrUnsupported is returned where the HID library is not built in
	// (no cgo, or an unsupported OS).
	ErrUnsupported = errors.New("usbhid: USB HID is not supported by this build (cgo needed)")
)

// PermissionHint tells a Linux user how to grant access to FIDO keys.
const PermissionHint = `grant your user access to FIDO keys with udev rules: on Debian 'sudo apt-get install libu2f-udev' ` +
	`(installs /usr/lib/udev/rules.d/70-u2f.rules), or add a rule such as ` +
	`SUBSYSTEM=="usb", ATTRS{idVendor}=="VID", ATTRS{idProduct}=="PID", TAG+="uaccess" to /etc/udev/rules.d/70-fido.rules; ` +
	`then 'sudo udevadm control --reload-rules && sudo udevadm trigger' and replug the key`

// Info describes a FIDO key found by Enumerate.
type Info struct {
	Path         string `json:"path"`
	VendorID     uint16 `json:"vendor_id"`
	ProductID    uint16 `json:"product_id"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Product      string `json:"product,omitempty"`
	Serial       string `json:"serial,omitempty"`
}

// backend is the part of karalabe/hid this package uses, replaced in tests.
type backend interface {
	supported() bool
	enumerate() ([]hid.DeviceInfo, error)
	open(hid.DeviceInfo) (rawDevice, error)
}

type rawDevice interface {
	Write([]byte) (int, error)
	ReadTimeout([]byte, int) (int, error)
	Close() error
}

type realBackend struct{}

func (realBackend) supported() bool                          { return hid.Supported() }
func (realBackend) enumerate() ([]hid.DeviceInfo, error)     { return hid.Enumerate(0, 0) }
func (realBackend) open(i hid.DeviceInfo) (rawDevice, error) { return i.Open() }

var lib backend = realBackend{}

// Enumerate lists connected FIDO keys. No key (or no USB at all) is an
// empty list, not an error.
func Enumerate() ([]Info, error) {
	if !lib.supported() {
		return nil, nil
	}
	all, err := lib.enumerate()
	if err != nil {
		return nil, fmt.Errorf("usbhid: enumerate: %w", err)
	}
	var out []Info
	for _, d := range all {
		if d.UsagePage != UsagePage {
			continue
		}
		out = append(out, Info{Path: d.Path, VendorID: d.VendorID, ProductID: d.ProductID,
			Manufacturer: d.Manufacturer, Product: d.Product, Serial: d.Serial})
	}
	return out, nil
}

// Device is an open key: an io.ReadWriteCloser of 64-byte reports.
type Device struct {
	raw    rawDevice
	closed chan struct{}
}

// Open opens the FIDO key at path.
func Open(path string) (*Device, error) {
	if !lib.supported() {
		return nil, ErrUnsupported
	}
	all, err := lib.enumerate()
	if err != nil {
		return nil, fmt.Errorf("usbhid: enumerate: %w", err)
	}
	for _, d := range all {
		if d.Path != path {
			continue
		}
		raw, err := lib.open(d)
		if err != nil {
			if accessDenied(path) {
				return nil, fmt.Errorf("%w (%s): %v", ErrPermission, path, err)
			}
			return nil, fmt.Errorf("usbhid: open %s: %w", path, err)
		}
		return &Device{raw: raw, closed: make(chan struct{})}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
}

// accessDenied is denied, replaced in tests.
var accessDenied = denied

// denied reports whether the device node behind a hidapi path refuses us.
// hidapi-libusb paths read "BUS:DEV:IFACE" (hex), the node being
// /dev/bus/usb/BBB/DDD; hidraw paths are device nodes themselves.
func denied(path string) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	node := path
	if f := strings.Split(path, ":"); len(f) == 3 {
		bus, err1 := strconv.ParseUint(f[0], 16, 16)
		dev, err2 := strconv.ParseUint(f[1], 16, 16)
		if err1 != nil || err2 != nil {
			return false
		}
		node = fmt.Sprintf("/dev/bus/usb/%03d/%03d", bus, dev)
	}
	f, err := os.OpenFile(node, os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return false
	}
	return errors.Is(err, os.ErrPermission)
}

// pollMillis bounds each blocking read so Close is noticed.
const pollMillis = 100

// Read returns the next 64-byte input report.
func (d *Device) Read(b []byte) (int, error) {
	buf := make([]byte, ctaphid.ReportLen)
	for {
		select {
		case <-d.closed:
			return 0, os.ErrClosed
		default:
		}
		n, err := d.raw.ReadTimeout(buf, pollMillis)
		if err != nil {
			return 0, err
		}
		if n > 0 {
			return copy(b, buf[:n]), nil
		}
	}
}

// Write sends one 64-byte output report. hidapi wants the report ID
// (0: FIDO keys use unnumbered reports) before the report; karalabe/hid adds
// it itself only on Windows.
func (d *Device) Write(b []byte) (int, error) {
	var p ctaphid.Packet
	copy(p[:], b)
	out := p[:]
	if runtime.GOOS != "windows" {
		out = append([]byte{0}, p[:]...)
	}
	if _, err := d.raw.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close releases the key. A Read in progress returns within 100 ms.
func (d *Device) Close() error {
	select {
	case <-d.closed:
		return nil
	default:
	}
	close(d.closed)
	return d.raw.Close()
}
