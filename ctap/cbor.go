package ctap

import (
	"github.com/fxamacker/cbor/v2"
)

// Decoder limits for CBOR from the other end of the wire. A CTAPHID message
// is at most 7609 bytes, so these are generous for every real message and
// small enough that no input can make a decoder allocate without bound.
const (
	MaxNestedLevels  = 16
	MaxArrayElements = 1024
	MaxMapPairs      = 256
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	// CTAP2 canonical CBOR (CTAP 2.1 §8): shortest integers and lengths,
	// definite lengths, map keys sorted bytewise, no tags.
	encMode, err = cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		panic(err) // constant options: cannot fail
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF, // §8: duplicate keys are invalid
		IndefLength:      cbor.IndefLengthForbidden, // §8: definite lengths only
		TagsMd:           cbor.TagsForbidden,        // §8: no tags
		MaxNestedLevels:  MaxNestedLevels,
		MaxArrayElements: MaxArrayElements,
		MaxMapPairs:      MaxMapPairs,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal encodes v in CTAP2 canonical CBOR.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Unmarshal decodes CBOR with the limits above, refusing duplicate map keys,
// indefinite lengths and tags. Trailing bytes after the first item are an error.
func Unmarshal(data []byte, v any) error { return decMode.Unmarshal(data, v) }

// EncMode returns the CTAP2 canonical encoder, for callers that stream.
func EncMode() cbor.EncMode { return encMode }

// DecMode returns the limited decoder.
func DecMode() cbor.DecMode { return decMode }
