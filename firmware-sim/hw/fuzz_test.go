package hw_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
)

// FuzzParseImage: no panic; an error comes with a zero Image; an accepted
// image re-encodes to the same bytes and its sections decode or are refused
// as corrupt.
func FuzzParseImage(f *testing.F) {
	fl := hw.NewFlash("otp", 1)
	fl.Put("seed", []byte("0123456789abcdef"))
	fl.Put("serial", []byte("GAHT12345674"))
	good, _ := fl.Image().MarshalBinary()
	empty, _ := hw.Image{Kind: "fido", Version: 3}.MarshalBinary()
	f.Add(good)
	f.Add(empty)
	f.Add(good[:len(good)/2])
	f.Add([]byte("TLFLASH\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := hw.ParseImage(b, "")
		if err != nil {
			if !reflect.ValueOf(im).IsZero() {
				t.Fatalf("error %v with an image %+v", err, im)
			}
			return
		}
		again, err := im.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted image does not re-encode to its bytes: %v", err)
		}
		if fl, err := hw.FlashFromImage(im); err != nil {
			if fl != nil {
				t.Fatalf("error %v with a flash", err)
			}
		} else if got, _ := hw.FlashFromImage(fl.Image()); got == nil {
			t.Fatal("sections do not round-trip")
		}
	})
}
