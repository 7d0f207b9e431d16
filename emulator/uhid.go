package emulator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// Linux UHID (Documentation/hid/uhid.rst, include/uapi/linux/uhid.h): a
// process writes struct uhid_event records to /dev/uhid to create a HID
// device and feed its input reports, and reads the kernel's events (start,
// open, output reports) back. Browsers and libfido2 then see the key as a
// USB security key through hidraw.

// DefaultUHIDPath is the UHID character device.
const DefaultUHIDPath = "/dev/uhid"

// UHID event types (enum uhid_event_type).
const (
	uhidDestroy        = 1
	uhidStart          = 2
	uhidStop           = 3
	uhidOpen           = 4
	uhidClose          = 5
	uhidOutput         = 6
	uhidGetReport      = 9
	uhidGetReportReply = 10
	uhidCreate2        = 11
	uhidInput2         = 12
	uhidSetReport      = 13
	uhidSetReportReply = 14
)

// Sizes of the packed structs of linux/uhid.h.
const (
	uhidDataMax = 4096 // UHID_DATA_MAX
	// struct uhid_create2_req: name[128] phys[64] uniq[64] rd_size(2)
	// bus(2) vendor(4) product(4) version(4) country(4) rd_data[4096].
	uhidCreate2Len = 128 + 64 + 64 + 2 + 2 + 4 + 4 + 4 + 4 + uhidDataMax
	// struct uhid_event: type(4) and the largest member of the union,
	// uhid_create2_req.
	uhidEventLen = 4 + uhidCreate2Len
	busUSB       = 0x03 // BUS_USB
	eio          = 5    // EIO, for refused GET_REPORT / SET_REPORT
)

// USB identity the simulated key presents: the pid.codes test vendor ID.
const (
	UHIDVendor  = 0x1209
	UHIDProduct = 0x7470
)

// FIDOReportDescriptor is the HID report descriptor of a CTAPHID device
// (CTAP 2.1 §11.2.8.1): usage page 0xF1D0 (FIDO Alliance), usage 0x01
// (CTAPHID), one 64-byte input report (usage 0x20) and one 64-byte output
// report (usage 0x21), no report IDs.
var FIDOReportDescriptor = []byte{
	0x06, 0xd0, 0xf1, // Usage Page (FIDO Alliance, 0xF1D0)
	0x09, 0x01, //       Usage (CTAPHID, 0x01)
	0xa1, 0x01, //       Collection (Application)
	0x09, 0x20, //         Usage (Input Report Data, 0x20)
	0x15, 0x00, //         Logical Minimum (0)
	0x26, 0xff, 0x00, //   Logical Maximum (255)
	0x75, 0x08, //         Report Size (8 bits)
	0x95, 0x40, //         Report Count (64)
	0x81, 0x02, //         Input (Data, Variable, Absolute)
	0x09, 0x21, //         Usage (Output Report Data, 0x21)
	0x15, 0x00, //         Logical Minimum (0)
	0x26, 0xff, 0x00, //   Logical Maximum (255)
	0x75, 0x08, //         Report Size (8 bits)
	0x95, 0x40, //         Report Count (64)
	0x91, 0x02, //         Output (Data, Variable, Absolute)
	0xc0, //             End Collection
}

// ErrNoUHID is returned by [OpenUHID] when the kernel offers no UHID
// device: not Linux, the uhid module not loaded, no /dev/uhid in the
// container, or no permission to open it.
var ErrNoUHID = errors.New("emulator: Linux UHID is not available")

// encodeCreate2 builds a UHID_CREATE2 event.
func encodeCreate2(name, phys, uniq string, rd []byte, vendor, product, version uint32) ([]byte, error) {
	if len(rd) > uhidDataMax {
		return nil, errors.New("emulator: report descriptor too long")
	}
	ev := make([]byte, 4+uhidCreate2Len)
	ne := binary.NativeEndian
	ne.PutUint32(ev, uhidCreate2)
	p := ev[4:]
	copy(p[0:127], name) // NUL-terminated: the last byte stays 0
	copy(p[128:128+63], phys)
	copy(p[192:192+63], uniq)
	ne.PutUint16(p[256:], uint16(len(rd)))
	ne.PutUint16(p[258:], busUSB)
	ne.PutUint32(p[260:], vendor)
	ne.PutUint32(p[264:], product)
	ne.PutUint32(p[268:], version)
	ne.PutUint32(p[272:], 0) // country
	copy(p[276:], rd)
	return ev, nil
}

// encodeInput2 builds a UHID_INPUT2 event carrying one input report. Only
// the used part of the data array is written, which the kernel accepts.
func encodeInput2(report []byte) []byte {
	ev := make([]byte, 4+2+len(report))
	binary.NativeEndian.PutUint32(ev, uhidInput2)
	binary.NativeEndian.PutUint16(ev[4:], uint16(len(report)))
	copy(ev[6:], report)
	return ev
}

func encodeType(t uint32) []byte {
	ev := make([]byte, 4)
	binary.NativeEndian.PutUint32(ev, t)
	return ev
}

// encodeReportReply answers GET_REPORT or SET_REPORT request id with err.
func encodeReportReply(t, id uint32, err uint16) []byte {
	ev := make([]byte, 4+4+2+2)
	ne := binary.NativeEndian
	ne.PutUint32(ev, t)
	ne.PutUint32(ev[4:], id)
	ne.PutUint16(ev[8:], err)
	return ev
}

// uhidEvent is a decoded event from the kernel.
type uhidEvent struct {
	typ  uint32
	data []byte // UHID_OUTPUT: the report
	id   uint32 // GET_REPORT / SET_REPORT: the request id
}

func decodeUHIDEvent(b []byte) (uhidEvent, error) {
	if len(b) < 4 {
		return uhidEvent{}, errors.New("emulator: short uhid event")
	}
	ne := binary.NativeEndian
	ev := uhidEvent{typ: ne.Uint32(b)}
	switch ev.typ {
	case uhidOutput:
		// struct uhid_output_req: data[4096] size(2) rtype(1)
		if len(b) < 4+uhidDataMax+2 {
			return ev, errors.New("emulator: short uhid output event")
		}
		n := int(ne.Uint16(b[4+uhidDataMax:]))
		if n > uhidDataMax {
			return ev, errors.New("emulator: bad uhid output size")
		}
		ev.data = b[4 : 4+n]
	case uhidGetReport, uhidSetReport:
		if len(b) < 8 {
			return ev, errors.New("emulator: short uhid report request")
		}
		ev.id = ne.Uint32(b[4:])
	}
	return ev, nil
}

// UHID exposes a [SecurityKey] as a kernel HID device: open the UHID
// character device with [OpenUHID], then [UHID.Serve] a key on it.
type UHID struct {
	f    io.ReadWriteCloser
	name string

	wmu sync.Mutex // one event written at a time
}

// OpenUHID opens the UHID device at path (DefaultUHIDPath when ""). Where
// the kernel offers none, the error matches [ErrNoUHID] and says why.
func OpenUHID(path string) (*UHID, error) {
	if path == "" {
		path = DefaultUHIDPath
	}
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("%w: UHID is a Linux interface and this is %s; use the UDP transport instead", ErrNoUHID, runtime.GOOS)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		hint := "load the uhid kernel module (modprobe uhid) or give the container the device"
		if errors.Is(err, os.ErrPermission) {
			hint = "run as root or grant access to " + path
		}
		return nil, fmt.Errorf("%w: %v; %s, or use the UDP transport instead", ErrNoUHID, err, hint)
	}
	return NewUHID(f), nil
}

// NewUHID uses f, an open UHID character device (or a fake one in tests).
func NewUHID(f io.ReadWriteCloser) *UHID {
	return &UHID{f: f, name: "tokenlab Simulated Security Key"}
}

// Close closes the UHID file without serving (Serve closes it itself).
func (u *UHID) Close() error { return u.f.Close() }

func (u *UHID) write(ev []byte) error {
	u.wmu.Lock()
	defer u.wmu.Unlock()
	_, err := u.f.Write(ev)
	return err
}

// Serve creates the HID device for key and relays reports until ctx ends,
// then destroys the device and closes the file.
func (u *UHID) Serve(ctx context.Context, key *SecurityKey) error {
	ev, err := encodeCreate2(u.name, "tokenlab/uhid", "", FIDOReportDescriptor, UHIDVendor, UHIDProduct, 0x0100)
	if err != nil {
		return err
	}
	if err := u.write(ev); err != nil {
		u.f.Close()
		return fmt.Errorf("emulator: creating the UHID device: %w", err)
	}
	port := key.Open()
	defer port.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // key → kernel
		defer wg.Done()
		buf := make([]byte, ctaphid.ReportLen)
		for {
			n, err := port.Read(buf)
			if err != nil {
				return
			}
			if u.write(encodeInput2(buf[:n])) != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-stop:
		}
		u.write(encodeType(uhidDestroy))
		port.Close()
		u.f.Close() // unblocks the read below
	}()
	var serveErr error
	buf := make([]byte, uhidEventLen)
	for {
		n, err := u.f.Read(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, os.ErrClosed) && !errors.Is(err, io.EOF) {
				serveErr = err
			}
			break
		}
		ev, err := decodeUHIDEvent(buf[:n])
		if err != nil {
			continue
		}
		switch ev.typ {
		case uhidOutput:
			r := ev.data
			// Devices without report IDs get the report number (0) in
			// front of the 64 bytes from hidraw writers.
			if len(r) == ctaphid.ReportLen+1 && r[0] == 0 {
				r = r[1:]
			}
			if len(r) >= ctaphid.ContHeaderLen && len(r) <= ctaphid.ReportLen {
				port.Write(r)
			}
		case uhidGetReport:
			u.write(encodeReportReply(uhidGetReportReply, ev.id, eio))
		case uhidSetReport:
			u.write(encodeReportReply(uhidSetReportReply, ev.id, eio))
		case uhidStart, uhidStop, uhidOpen, uhidClose:
			// Nothing to do: the key answers whoever writes.
		}
	}
	close(stop)
	wg.Wait()
	return serveErr
}
