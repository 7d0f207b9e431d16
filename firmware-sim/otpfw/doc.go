// Package otpfw is the firmware of a TOTP hardware token (key fob, display
// card) and of the virtual MFA app, as a state machine running on the
// simulated hardware of package hw:
//
//	factory ──LOCK──▶ provisioned ──tamper──▶ tampered (seed wiped)
//	   └──────────────────tamper─────────────────┘
//
// In the factory state a token takes its serial, seed, spec and time over
// the factory port; LOCK checks the clock and the flash and fixes them for
// good: a locked token answers every attempt to read or rewrite its seed with
// an error. A button press ([Firmware.Press]) computes the RFC 6238 code
// from the device's own drifting clock and shows it until the display
// blanks; a browned-out battery shows nothing.
//
// # Factory port protocol
//
// The factory port is a line protocol over any io.ReadWriter (a serial
// line, a pipe, a socket). The host sends one request line; the token
// answers one line. Lines end in "\n" (a "\r" before it is ignored), are at
// most [MaxLine] bytes, and are ASCII; verbs are upper-case.
//
//	IDENTIFY             OK tokenlab-otpfw/1 model=keyfob state=factory serial=GAHT00000018
//	SERIAL s             OK                       set the serial (IAM serial rules)
//	SEED hex             OK                       write the seed slot, 16 to 128 bytes
//	SPEC alg digits per  OK                       e.g. SPEC SHA1 6 30
//	TIME unix            OK                       set the clock; unix seconds, optional .fraction
//	SELFTEST             OK code unix             check clock and flash; code at device time
//	LOCK                 OK                       check, then lock for good
//	STATUS               OK state=… model=… serial=… spec=SHA1/6/30 seed=set|unset time=unix battery=0.97 clock=ok|stopped
//	READSEED             OK hex                   factory state only
//
// A failure is "ERR CODE message". The codes, and the errors
// [FactoryClient] returns for them (match with errors.Is):
//
//	LOCKED    ErrLocked          the token is locked (SERIAL, SEED, SPEC, TIME, READSEED, LOCK)
//	TAMPERED  ErrTampered        the token was tampered with
//	STATE     ErrNotProvisioned  something needed is not set yet
//	CLOCK     ErrClock           the RTC oscillator has stopped
//	FLASH     ErrFlash           flash contents fail their check
//	BATTERY   ErrBrownOut        the battery is too weak
//	ARG       ErrArgument        a malformed or out-of-range argument
//	SYNTAX    ErrSyntax          a malformed request line
//	UNKNOWN   ErrSyntax          an unknown verb
//	TOOLONG   ErrSyntax          a request line over MaxLine bytes
//
// An ERR message never contains the seed. The host side is [FactoryClient]:
//
//	c := otpfw.NewFactoryClient(port)
//	c.SetSerial("GAHT00000018"); c.SetSeed(seed); c.SetSpec(token.DefaultSpec)
//	c.SetTime(time.Now())
//	code, devTime, err := c.SelfTest()   // compare with the host's code
//	err = c.Lock()
package otpfw
