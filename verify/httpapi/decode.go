package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

// Body limits.
const (
	// MaxJSONBody bounds every JSON request body.
	MaxJSONBody = 1 << 20
	// MaxImportBody bounds an inventory import (JSON lines of records).
	MaxImportBody = 64 << 20
	// MaxImportRecords bounds the records of one import.
	MaxImportRecords = 500_000
	// MaxTags is IAM's limit on tags per device.
	MaxTags = 50
	// MaxPage is the largest page a list returns.
	MaxPage = 1000
)

// DecodeJSON reads exactly one JSON value from body into v, strictly:
// unknown fields, trailing data and bodies over max bytes are refused with
// an EINVALID error that says what is wrong.
func DecodeJSON(body io.Reader, max int64, v any) error {
	return decodeBounded(io.LimitReader(body, max+1), max, v)
}

// decodeBounded is DecodeJSON over a body that already stops after max+1
// bytes, or fails with an *http.MaxBytesError past max.
func decodeBounded(body io.Reader, max int64, v any) error {
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return invalidf("request body over %d bytes", mbe.Limit)
		}
		return invalidf("reading request body: %v", err)
	}
	if int64(len(data)) > max {
		return invalidf("request body over %d bytes", max)
	}
	return decodeBytes(data, v)
}

func decodeBytes(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return invalidf("empty request body: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidf("bad JSON: %s", jsonErrorText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidf("bad JSON: more than one value in the body")
	}
	return nil
}

// jsonErrorText describes a decoding error without echoing the input (a
// field's value might be a code).
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonType(te.Type.Kind().String()), te.Value)
		}
		return fmt.Sprintf("want %s, not %s", jsonType(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "malformed input"
}

func jsonType(kind string) string {
	switch kind {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	}
	return "a number"
}

// ValidUserName checks an IAM user name: 1 to 128 characters of letters,
// digits and _+=,.@- (existingUserNameType; new users are held to 64).
func ValidUserName(n string, max int) error {
	if n == "" {
		return invalidf("user name is empty")
	}
	if len(n) > max {
		return invalidf("user name is %d characters, over %d", len(n), max)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			return invalidf("user name: character %q at position %d is not a letter, digit or one of _+=,.@-", c, i+1)
		}
	}
	return nil
}

// ValidDevice checks a device id: a hardware serial (token.ParseSerial), a
// virtual MFA ARN (token.ParseMFAARN) or a FIDO u2f ARN.
func ValidDevice(id string) error {
	if id == "" {
		return invalidf("device is empty: want a serial or an MFA device ARN")
	}
	if token.IsARN(id) {
		if _, err := token.ParseMFAARN(id); err == nil {
			return nil
		} else if !strings.Contains(id, ":u2f/") {
			return invalidf("%v", err)
		}
		if _, err := token.ParseSerial(id); err != nil {
			return invalidf("bad FIDO device ARN")
		}
		return nil
	}
	if _, err := token.ParseSerial(id); err != nil {
		return invalidf("%v", err)
	}
	return nil
}

// ValidCode checks a one-time code: exactly 6 or 8 ASCII digits. The error
// never repeats the code.
func ValidCode(field, c string) error {
	if len(c) != 6 && len(c) != 8 {
		return invalidf("%s must be 6 or 8 digits, got %d characters", field, len(c))
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return invalidf("%s must be 6 or 8 digits, character %d is not a digit", field, i+1)
		}
	}
	return nil
}

// ValidTags checks IAM's tag limits: at most 50, keys 1 to 128 characters,
// values up to 256.
func ValidTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return invalidf("%d tags, at most %d allowed", len(tags), MaxTags)
	}
	for k, v := range tags {
		if err := validTagKey(k); err != nil {
			return err
		}
		if len(v) > 256 {
			return invalidf("tag %q: value over 256 characters", k)
		}
	}
	return nil
}

func validTagKey(k string) error {
	if k == "" || len(k) > 128 {
		return invalidf("tag key must be 1 to 128 characters")
	}
	return nil
}

func validPath(p string) error {
	if p == "" {
		return nil
	}
	if err := token.ValidPath(p); err != nil {
		return invalidf("%v", err)
	}
	return nil
}

// page reads ?marker= and ?max= (1 to 1000).
func page(r *http.Request) (verify.Page, error) {
	q := r.URL.Query()
	p := verify.Page{Marker: q.Get("marker")}
	if len(p.Marker) > 320 {
		return p, invalidf("marker over 320 characters")
	}
	if m := q.Get("max"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > MaxPage {
			return p, invalidf("max must be a number from 1 to %d", MaxPage)
		}
		p.Max = n
	}
	return p, nil
}
