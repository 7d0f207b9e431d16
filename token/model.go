package token

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Model is the kind of MFA device.
type Model uint8

const (
	KeyFob      Model = iota + 1 // a hardware TOTP key fob with a button
	DisplayCard                  // an ID-1 card with a button and an e-paper display
	Virtual                      // a virtual MFA app (authenticator app)
	FIDO                         // a FIDO2 / U2F security key
)

// ErrModel is returned for an unknown model name.
var ErrModel = errors.New("token: unknown model")

// Models lists every model, in order.
var Models = []Model{KeyFob, DisplayCard, Virtual, FIDO}

// ParseModel accepts keyfob, displaycard, virtual and fido (any case; key-fob
// and display-card too).
func ParseModel(s string) (Model, error) {
	switch strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "") {
	case "keyfob", "fob":
		return KeyFob, nil
	case "displaycard", "card":
		return DisplayCard, nil
	case "virtual":
		return Virtual, nil
	case "fido":
		return FIDO, nil
	}
	return 0, fmt.Errorf("%w %q (want keyfob, displaycard, virtual or fido)", ErrModel, truncate(s))
}

func (m Model) String() string {
	switch m {
	case KeyFob:
		return "keyfob"
	case DisplayCard:
		return "displaycard"
	case Virtual:
		return "virtual"
	case FIDO:
		return "fido"
	}
	return fmt.Sprintf("Model(%d)", uint8(m))
}

// MarshalText encodes the model by name.
func (m Model) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText decodes a model name.
func (m *Model) UnmarshalText(b []byte) error {
	v, err := ParseModel(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// TOTP reports whether the model shows time-based codes.
func (m Model) TOTP() bool { return m == KeyFob || m == DisplayCard || m == Virtual }

// Hardware reports whether the model is a physical token with a serial.
func (m Model) Hardware() bool { return m == KeyFob || m == DisplayCard }

// DefaultSpec is the spec a model ships with: every TOTP model uses
// [DefaultSpec] unless told otherwise.
func (m Model) DefaultSpec() Spec { return DefaultSpec }

// DisplayTime is how long the model shows a code after a press.
func (m Model) DisplayTime() time.Duration {
	switch m {
	case KeyFob:
		return 15 * time.Second
	case DisplayCard:
		return 20 * time.Second
	}
	return 0 // always shown
}
