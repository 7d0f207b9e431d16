// Package hw is the simulated hardware that token firmware runs on: a
// [Clock] that drifts, a [Button], a [Display] that blanks after a timeout,
// a [Battery] that browns out, a [Flash] memory persisted as a versioned,
// checksummed image file, and a random source ([RNG]).
//
// Everything here is deterministic: time comes from a [TimeSource] the
// caller passes in (a [ManualTime] in tests, [SystemTime] otherwise) and
// randomness from an io.Reader, so a test can step a device through hours
// of drift in microseconds.
//
//	src := hw.NewManualTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
//	clk := hw.NewClock(src, 50)        // runs 50 ppm fast
//	src.Advance(24 * time.Hour)
//	clk.Now()                          // 4.32 s ahead of src.Now()
//
// # Flash image format
//
// A flash image file is, in order (integers big-endian):
//
//	magic    8 bytes  "TLFLASH\x00"
//	format   uint16   image format version, currently 1 ([FormatVersion])
//	kindLen  uint8    length of kind
//	kind     kindLen bytes, the image kind: "otp", "fido", ...
//	version  uint16   the kind's own payload version
//	length   uint32   payload length
//	payload  length bytes
//	sum      32 bytes SHA-256 of every byte above
//
// [ParseImage] refuses anything else with an error matching [ErrTruncated],
// [ErrForeign] (not a flash image, or one of another kind), [ErrVersion]
// (a format version this code does not know) or [ErrCorrupt] (checksum
// mismatch, trailing bytes), so a damaged image is never read as a wrong
// secret. [Flash] stores named sections in the payload (see [Flash]).
package hw
