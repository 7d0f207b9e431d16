package otpfw

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenlab/tokenlab/token"
)

// MaxLine is the longest request or answer line, newline included.
const MaxLine = 512

// Verbs of the factory port.
const (
	VerbIdentify = "IDENTIFY"
	VerbSerial   = "SERIAL"
	VerbSeed     = "SEED"
	VerbSpec     = "SPEC"
	VerbTime     = "TIME"
	VerbSelfTest = "SELFTEST"
	VerbLock     = "LOCK"
	VerbStatus   = "STATUS"
	VerbReadSeed = "READSEED"
)

// Error codes of the factory port (see the package doc).
const (
	CodeLocked   = "LOCKED"
	CodeTampered = "TAMPERED"
	CodeState    = "STATE"
	CodeClock    = "CLOCK"
	CodeFlash    = "FLASH"
	CodeBattery  = "BATTERY"
	CodeArg      = "ARG"
	CodeSyntax   = "SYNTAX"
	CodeUnknown  = "UNKNOWN"
	CodeTooLong  = "TOOLONG"
)

var codeErrors = map[string]error{
	CodeLocked: ErrLocked, CodeTampered: ErrTampered, CodeState: ErrNotProvisioned,
	CodeClock: ErrClock, CodeFlash: ErrFlash, CodeBattery: ErrBrownOut,
	CodeArg: ErrArgument, CodeSyntax: ErrSyntax, CodeUnknown: ErrSyntax, CodeTooLong: ErrSyntax,
}

// errorCode maps a firmware error to its port code.
func errorCode(err error) string {
	for _, c := range []string{CodeLocked, CodeTampered, CodeState, CodeClock, CodeFlash, CodeBattery, CodeArg} {
		if errors.Is(err, codeErrors[c]) {
			return c
		}
	}
	return CodeSyntax
}

// PortError is an ERR answer from the factory port. errors.Is matches it
// against the sentinel of its code (ErrLocked for LOCKED, ...).
type PortError struct {
	Verb    string // the request's verb
	Code    string // LOCKED, ARG, ...
	Message string
}

func (e *PortError) Error() string {
	return fmt.Sprintf("otpfw: %s refused: %s %s", e.Verb, e.Code, e.Message)
}

// Is reports whether target is the sentinel for e's code.
func (e *PortError) Is(target error) bool {
	s, ok := codeErrors[e.Code]
	return ok && s == target
}

// request is one parsed request line.
type request struct {
	verb string
	args []string
}

// argCount is how many arguments each verb takes.
var argCount = map[string]int{
	VerbIdentify: 0, VerbSerial: 1, VerbSeed: 1, VerbSpec: 3, VerbTime: 1,
	VerbSelfTest: 0, VerbLock: 0, VerbStatus: 0, VerbReadSeed: 0,
}

// parseRequest splits a request line (without its newline) into a verb and
// its arguments. The error's code is in the returned code string.
func parseRequest(line []byte) (*request, string, error) {
	if len(line) >= MaxLine {
		return nil, CodeTooLong, fmt.Errorf("line over %d bytes", MaxLine-1)
	}
	for _, c := range line {
		if c < 0x20 || c > 0x7e {
			return nil, CodeSyntax, errors.New("non-printable byte in request")
		}
	}
	f := strings.Fields(string(line))
	if len(f) == 0 {
		return nil, CodeSyntax, errors.New("empty request")
	}
	n, ok := argCount[f[0]]
	if !ok {
		return nil, CodeUnknown, fmt.Errorf("unknown verb %q", truncate(f[0]))
	}
	if len(f)-1 != n {
		return nil, CodeSyntax, fmt.Errorf("%s takes %d arguments, got %d", f[0], n, len(f)-1)
	}
	return &request{verb: f[0], args: f[1:]}, "", nil
}

func truncate(s string) string {
	if len(s) > 24 {
		return s[:21] + "..."
	}
	return s
}

// formatTime writes a Unix time as seconds with nine decimals.
func formatTime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// maxUnix is the last second of year 9999.
const maxUnix = 253402300799

// parseTime reads Unix seconds with an optional fraction of up to nine digits.
func parseTime(s string) (time.Time, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || strings.Trim(whole, "0123456789") != "" || len(whole) > 12 {
		return time.Time{}, fmt.Errorf("time %q: want Unix seconds", truncate(s))
	}
	sec, _ := strconv.ParseInt(whole, 10, 64)
	var ns int64
	if hasFrac {
		if frac == "" || len(frac) > 9 || strings.Trim(frac, "0123456789") != "" {
			return time.Time{}, fmt.Errorf("time %q: bad fraction", truncate(s))
		}
		ns, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	if sec > maxUnix {
		return time.Time{}, fmt.Errorf("time %q out of range", truncate(s))
	}
	return time.Unix(sec, ns).UTC(), nil
}

// handle runs one request and returns the answer line without its newline.
func (f *Firmware) handle(line []byte) string {
	req, code, err := parseRequest(line)
	if err != nil {
		return "ERR " + code + " " + err.Error()
	}
	data, err := f.exec(req)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "otpfw: ")
		return "ERR " + errorCode(err) + " " + msg
	}
	if data == "" {
		return "OK"
	}
	return "OK " + data
}

func (f *Firmware) exec(r *request) (string, error) {
	switch r.verb {
	case VerbIdentify:
		st := f.Status()
		return fmt.Sprintf("%s model=%v state=%v serial=%s", Version, st.Model, st.State, dash(string(st.Serial))), nil
	case VerbSerial:
		return "", f.SetSerial(token.Serial(r.args[0]))
	case VerbSeed:
		s, err := token.ParseHexSeed(r.args[0])
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrArgument, err)
		}
		defer s.Wipe()
		return "", f.SetSeed(s)
	case VerbSpec:
		alg, err := token.ParseAlgorithm(r.args[0])
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrArgument, err)
		}
		d, err1 := strconv.Atoi(r.args[1])
		p, err2 := strconv.Atoi(r.args[2])
		if err1 != nil || err2 != nil || p <= 0 || p > 3600 {
			return "", fmt.Errorf("%w: SPEC wants ALGORITHM DIGITS PERIOD, e.g. SPEC SHA1 6 30", ErrArgument)
		}
		return "", f.SetSpec(token.Spec{Algorithm: alg, Digits: d, Period: time.Duration(p) * time.Second})
	case VerbTime:
		t, err := parseTime(r.args[0])
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrArgument, err)
		}
		return "", f.SetTime(t)
	case VerbSelfTest:
		code, t, err := f.SelfTest()
		if err != nil {
			return "", err
		}
		return code + " " + formatTime(t), nil
	case VerbLock:
		return "", f.Lock()
	case VerbStatus:
		st := f.Status()
		spec := "-"
		if st.Spec.Validate() == nil {
			spec = fmt.Sprintf("%v/%d/%d", st.Spec.Algorithm, st.Spec.Digits, int(st.Spec.Period/time.Second))
		}
		seed, clock := "unset", "ok"
		if st.SeedSet {
			seed = "set"
		}
		if !st.ClockOK {
			clock = "stopped"
		}
		return fmt.Sprintf("state=%v model=%v serial=%s spec=%s seed=%s time=%s battery=%.2f clock=%s",
			st.State, st.Model, dash(string(st.Serial)), spec, seed, formatTime(st.DeviceTime), st.Battery, clock), nil
	case VerbReadSeed:
		s, err := f.ReadSeed()
		if err != nil {
			return "", err
		}
		defer s.Wipe()
		return s.Hex(), nil
	}
	return "", fmt.Errorf("%w: unknown verb", ErrSyntax)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// errLineTooLong is returned by readLine after discarding an overlong line.
var errLineTooLong = errors.New("line too long")

// readLine reads one line of at most max bytes (newline included), without
// its "\n" or "\r\n". An overlong line is consumed and errLineTooLong
// returned. A final line without a newline is returned with io.EOF.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	long := false
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && len(line) > 0 && !long {
				return trimCR(line), io.EOF
			}
			return nil, err
		}
		if c == '\n' {
			if long {
				return nil, errLineTooLong
			}
			return trimCR(line), nil
		}
		if len(line) >= max-1 {
			long = true
			line = line[:0]
			continue
		}
		if !long {
			line = append(line, c)
		}
	}
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// ServeFactoryPort answers factory-port requests on rw until rw reaches EOF
// (nil is returned), a read or write fails, or ctx is done (ctx.Err() is
// returned; if rw is an io.Closer it is closed to unblock the read).
func (f *Firmware) ServeFactoryPort(ctx context.Context, rw io.ReadWriter) error {
	if c, ok := rw.(io.Closer); ok {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-ctx.Done():
				c.Close()
			case <-stop:
			}
		}()
	}
	r := bufio.NewReader(rw)
	for {
		line, err := readLine(r, MaxLine)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ans string
		switch {
		case err == errLineTooLong:
			ans = fmt.Sprintf("ERR %s line over %d bytes", CodeTooLong, MaxLine-1)
		case err != nil && err != io.EOF:
			return err
		case err == io.EOF && line == nil:
			return nil
		default:
			ans = f.handle(line)
		}
		if _, werr := io.WriteString(rw, ans+"\n"); werr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == io.EOF {
				return nil // the host sent a last line and hung up
			}
			return werr
		}
		if err == io.EOF {
			return nil
		}
	}
}

// FactoryClient is the host side of the factory port: a production line
// or a test provisioning a token. It is safe for concurrent use (requests
// are serialised).
type FactoryClient struct {
	mu sync.Mutex
	w  io.Writer
	r  *bufio.Reader
}

// NewFactoryClient returns a client talking over rw.
func NewFactoryClient(rw io.ReadWriter) *FactoryClient {
	return &FactoryClient{w: rw, r: bufio.NewReader(rw)}
}

// Identity is the IDENTIFY answer.
type Identity struct {
	Firmware string
	Model    token.Model
	State    State
	Serial   token.Serial // "" if unset
}

// do sends one request and returns the OK answer's data.
func (c *FactoryClient) do(verb string, args ...string) (string, error) {
	line := strings.Join(append([]string{verb}, args...), " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.w, line+"\n"); err != nil {
		return "", fmt.Errorf("otpfw: %s: %w", verb, err)
	}
	ans, err := readLine(c.r, 4*MaxLine)
	if err != nil && !(err == io.EOF && ans != nil) {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("otpfw: %s: reading answer: %w", verb, err)
	}
	s := string(ans)
	switch {
	case s == "OK":
		return "", nil
	case strings.HasPrefix(s, "OK "):
		return s[3:], nil
	case strings.HasPrefix(s, "ERR "):
		code, msg, _ := strings.Cut(s[4:], " ")
		return "", &PortError{Verb: verb, Code: code, Message: msg}
	}
	return "", fmt.Errorf("otpfw: %s: malformed answer %q", verb, truncate(s))
}

func fields(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

func undash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// Identify asks the token what it is.
func (c *FactoryClient) Identify() (Identity, error) {
	d, err := c.do(VerbIdentify)
	if err != nil {
		return Identity{}, err
	}
	fw, _, _ := strings.Cut(d, " ")
	m := fields(d)
	id := Identity{Firmware: fw, Serial: token.Serial(undash(m["serial"]))}
	if id.Model, err = token.ParseModel(m["model"]); err != nil {
		return Identity{}, fmt.Errorf("otpfw: IDENTIFY: %w", err)
	}
	if id.State, err = ParseState(m["state"]); err != nil {
		return Identity{}, fmt.Errorf("otpfw: IDENTIFY: %w", err)
	}
	return id, nil
}

// SetSerial sends SERIAL.
func (c *FactoryClient) SetSerial(s token.Serial) error {
	if _, err := token.ParseSerial(string(s)); err != nil {
		return err
	}
	_, err := c.do(VerbSerial, string(s))
	return err
}

// SetSeed sends SEED.
func (c *FactoryClient) SetSeed(s token.Seed) error {
	if _, err := token.NewSeed(s); err != nil {
		return err
	}
	_, err := c.do(VerbSeed, s.Hex())
	return err
}

// SetSpec sends SPEC.
func (c *FactoryClient) SetSpec(s token.Spec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	_, err := c.do(VerbSpec, s.Algorithm.String(), strconv.Itoa(s.Digits), strconv.Itoa(int(s.Period/time.Second)))
	return err
}

// SetTime sends TIME.
func (c *FactoryClient) SetTime(t time.Time) error {
	if t.Unix() < 0 {
		return fmt.Errorf("otpfw: TIME: %v is before 1970", t)
	}
	_, err := c.do(VerbTime, formatTime(t))
	return err
}

// SelfTest sends SELFTEST and returns the code the token computed and the
// device time it computed it at.
func (c *FactoryClient) SelfTest() (code string, deviceTime time.Time, err error) {
	d, err := c.do(VerbSelfTest)
	if err != nil {
		return "", time.Time{}, err
	}
	code, ts, ok := strings.Cut(d, " ")
	if !ok {
		return "", time.Time{}, fmt.Errorf("otpfw: SELFTEST: malformed answer %q", truncate(d))
	}
	t, err := parseTime(ts)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("otpfw: SELFTEST: %v", err)
	}
	return code, t, nil
}

// Lock sends LOCK.
func (c *FactoryClient) Lock() error {
	_, err := c.do(VerbLock)
	return err
}

// ReadSeed sends READSEED; a locked token refuses with ErrLocked.
func (c *FactoryClient) ReadSeed() (token.Seed, error) {
	d, err := c.do(VerbReadSeed)
	if err != nil {
		return nil, err
	}
	s, err := token.ParseHexSeed(d)
	if err != nil {
		return nil, fmt.Errorf("otpfw: READSEED: %w", err)
	}
	return s, nil
}

// Status sends STATUS.
func (c *FactoryClient) Status() (Status, error) {
	d, err := c.do(VerbStatus)
	if err != nil {
		return Status{}, err
	}
	m := fields(d)
	var st Status
	if st.State, err = ParseState(m["state"]); err != nil {
		return Status{}, fmt.Errorf("otpfw: STATUS: %w", err)
	}
	if st.Model, err = token.ParseModel(m["model"]); err != nil {
		return Status{}, fmt.Errorf("otpfw: STATUS: %w", err)
	}
	st.Serial = token.Serial(undash(m["serial"]))
	bad := func(field string) (Status, error) {
		return Status{}, fmt.Errorf("otpfw: STATUS: malformed %s in answer %q", field, truncate(d))
	}
	if sp := m["spec"]; sp != "-" {
		p := strings.Split(sp, "/")
		if len(p) != 3 {
			return bad("spec")
		}
		alg, err1 := token.ParseAlgorithm(p[0])
		dg, err2 := strconv.Atoi(p[1])
		per, err3 := strconv.Atoi(p[2])
		st.Spec = token.Spec{Algorithm: alg, Digits: dg, Period: time.Duration(per) * time.Second}
		if err1 != nil || err2 != nil || err3 != nil || st.Spec.Validate() != nil {
			return bad("spec")
		}
	}
	st.SeedSet = m["seed"] == "set"
	if st.DeviceTime, err = parseTime(m["time"]); err != nil {
		return bad("time")
	}
	if st.Battery, err = strconv.ParseFloat(m["battery"], 64); err != nil || st.Battery < 0 || st.Battery > 1 {
		return bad("battery")
	}
	st.ClockOK = m["clock"] == "ok"
	return st, nil
}
