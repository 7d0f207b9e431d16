package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/firmware-sim/otpfw"
	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/token"
)

func init() {
	register(&group{
		name:    "fob",
		summary: "emulated TOTP devices: key fobs, display cards, virtual MFA apps",
		verbs: map[string]*command{
			"new": {
				usage:   "fob new --model keyfob|displaycard|virtual [--serial S | --name N] [--seed B32] [--digits 6] [--period 30] [--algorithm SHA1] [--drift-ppm N] [--json]",
				summary: "create an emulated, provisioned device and print its serial (a virtual device: its ARN)",
				example: "  tokenlab fob new --model keyfob --serial GAHT00000018 --drift-ppm 20\n  tokenlab fob new --model virtual --name alice-phone",
				flags: func(fs *pflag.FlagSet) {
					fs.String("model", "keyfob", "keyfob, displaycard or virtual")
					fs.String("serial", "", "serial of a hardware device (default: a random TLEM serial); a virtual device's ARN or name")
					fs.String("name", "", "name of a virtual device (its ARN is arn:aws:iam::ACCOUNT:mfa/NAME)")
					fs.String("account", token.DefaultAccount, "account id in a virtual device's ARN")
					fs.String("seed", "", "seed in base32 (default: a fresh random seed)")
					fs.Int("digits", 6, "code length: 6 or 8")
					fs.Int("period", 30, "time step in seconds: 30 or 60")
					fs.String("algorithm", "SHA1", "HMAC hash: SHA1, SHA256 or SHA512")
					fs.Float64("drift-ppm", 0, "clock drift in parts per million (positive runs fast)")
					fs.Duration("display-time", 0, "how long a code stays shown (default: the model's)")
					homeFlags(fs)
				},
				run: fobNew,
			},
			"list": {
				usage:   "fob list [--json]",
				summary: "list the emulated devices",
				flags:   homeFlags,
				run:     fobList,
			},
			"show": {
				usage:   "fob show SERIAL [--json]",
				summary: "show a device: model, spec, drift, clock, battery, state (never its seed)",
				flags:   homeFlags,
				run:     fobShow,
			},
			"press": {
				usage:   "fob press SERIAL [--at RFC3339] [--json]",
				summary: "press the button and print the code the device shows",
				example: "  tokenlab fob press GAHT00000018\n  tokenlab fob press alice-phone --at 2030-01-01T00:00:00Z --json",
				flags: func(fs *pflag.FlagSet) {
					fs.String("at", "", "press at this real instant (RFC 3339) instead of now")
					homeFlags(fs)
				},
				run: fobPress,
			},
			"advance": {
				usage:   "fob advance SERIAL --by DURATION [--json]",
				summary: "move the device's own clock (as drift would); negative durations move it back",
				example: "  tokenlab fob advance GAHT00000018 --by 90s",
				flags: func(fs *pflag.FlagSet) {
					fs.Duration("by", 0, "how far to move the device clock, e.g. 30s, -2m, 1h")
					homeFlags(fs)
				},
				run: fobAdvance,
			},
			"export": {
				usage:   "fob export SERIAL --format otpauth|pskc|csv|oath-csv|entra-csv",
				summary: "print the device's seed file entry (it carries the seed)",
				example: "  tokenlab fob export GAHT00000018 --format pskc > fob.pskc",
				flags: func(fs *pflag.FlagSet) {
					fs.String("format", "otpauth", "otpauth (a URI), pskc (RFC 6030 XML, unencrypted), csv, oath-csv or entra-csv")
					homeDirFlag(fs)
				},
				run: fobExport,
			},
			"rm": {
				usage:   "fob rm SERIAL",
				summary: "delete an emulated device",
				flags:   homeDirFlag,
				run:     fobRm,
			},
		},
	})
}

// homeDirFlag is --home, the directory of emulated devices.
func homeDirFlag(fs *pflag.FlagSet) {
	fs.String("home", "", "directory of emulated devices (default $TOKENLAB_HOME)")
}

// homeFlags is --home and --json.
func homeFlags(fs *pflag.FlagSet) {
	homeDirFlag(fs)
	fs.Bool("json", false, "print JSON")
}

func flagString(fs *pflag.FlagSet, name string) string { v, _ := fs.GetString(name); return v }
func flagBool(fs *pflag.FlagSet, name string) bool     { v, _ := fs.GetBool(name); return v }

// openHome opens the device directory, with the environment's clock or a
// fixed instant.
func openHome(env *Env, fs *pflag.FlagSet, at time.Time) (*emulator.Home, error) {
	dir, err := homeDir(env, flagString(fs, "home"))
	if err != nil {
		return nil, err
	}
	var src hw.TimeSource = hw.TimeFunc(env.Now)
	if !at.IsZero() {
		src = hw.TimeFunc(func() time.Time { return at })
	}
	return emulator.OpenHome(dir, src)
}

// oneID checks the single SERIAL argument: a serial, an ARN, or a virtual
// device name.
func oneID(verb string, args []string) (string, error) {
	if len(args) != 1 {
		return "", &UsageError{Err: fmt.Errorf("fob %s: want exactly one SERIAL argument, got %d", verb, len(args)),
			Hint: "give the serial (or a virtual device's ARN or name) that 'tokenlab fob list' shows"}
	}
	id := args[0]
	switch {
	case token.IsARN(id):
		if _, err := token.ParseMFAARN(id); err != nil {
			return "", badInput(err)
		}
	case token.ValidMFAName(id) == nil && len(id) < token.MinSerialLen:
		// a short virtual device name
	default:
		if _, err := token.ParseSerial(id); err != nil {
			return "", badInput(err)
		}
	}
	return id, nil
}

// loadFob opens the device directory as openHome does and loads device
// id from it; a missing or damaged device is reported as loadErr does.
func loadFob(env *Env, fs *pflag.FlagSet, id string, at time.Time) (*emulator.Home, *emulator.Token, error) {
	home, err := openHome(env, fs, at)
	if err != nil {
		return nil, nil, err
	}
	t, err := home.Load(id)
	if err != nil {
		return nil, nil, loadErr(id, err)
	}
	return home, t, nil
}

// loadErr classifies an error loading a device: a missing device or a bad
// image is bad input (exit 2).
func loadErr(id string, err error) error {
	switch {
	case errors.Is(err, emulator.ErrNotFound):
		return &UsageError{Err: err, Hint: "run 'tokenlab fob list' to see the devices in this home"}
	case errors.Is(err, hw.ErrCorrupt), errors.Is(err, hw.ErrTruncated), errors.Is(err, hw.ErrForeign), errors.Is(err, hw.ErrVersion), errors.Is(err, otpfw.ErrFlash):
		return &UsageError{Err: fmt.Errorf("device %s: %w", id, err), Hint: "the image file is damaged; remove it with 'tokenlab fob rm' and create the device again"}
	}
	return err
}

func fobNew(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("fob new: unexpected argument %q", args[0])
	}
	model, err := token.ParseModel(flagString(fs, "model"))
	if err != nil {
		return badInput(err)
	}
	if !model.TOTP() {
		return &UsageError{Err: fmt.Errorf("fob new: model %v is not a TOTP device", model), Hint: "FIDO keys are emulated by 'tokenlab fido emulate'"}
	}
	var o emulator.Options
	if o.Spec.Algorithm, err = token.ParseAlgorithm(flagString(fs, "algorithm")); err != nil {
		return badInput(err)
	}
	o.Spec.Digits, _ = fs.GetInt("digits")
	if err := token.ValidDigits(o.Spec.Digits); err != nil {
		return badInput(err)
	}
	p, _ := fs.GetInt("period")
	o.Spec.Period = time.Duration(p) * time.Second
	if err := token.ValidPeriod(o.Spec.Period); err != nil {
		return badInput(err)
	}
	if s := flagString(fs, "seed"); s != "" || fs.Changed("seed") {
		if o.Seed, err = token.ParseBase32Seed(s); err != nil {
			return badInput(err)
		}
	}
	o.DriftPPM, _ = fs.GetFloat64("drift-ppm")
	if o.DriftPPM != o.DriftPPM || o.DriftPPM > hw.MaxPPM || o.DriftPPM < -hw.MaxPPM {
		return usagef("fob new: --drift-ppm %v out of range ±%d", o.DriftPPM, hw.MaxPPM)
	}
	o.DisplayTime, _ = fs.GetDuration("display-time")
	if o.DisplayTime < 0 {
		return usagef("fob new: --display-time must not be negative")
	}
	serial, name := flagString(fs, "serial"), flagString(fs, "name")
	if model == token.Virtual {
		switch {
		case serial != "" && name != "":
			return usagef("fob new: give --serial (an ARN) or --name, not both")
		case (serial != "" || fs.Changed("serial")) && (token.IsARN(serial) || serial == ""):
			if o.ARN, err = token.ParseMFAARN(serial); err != nil {
				return badInput(err)
			}
		case serial != "" || name != "" || fs.Changed("name"):
			if name == "" {
				name = serial // --serial NAME for a virtual device
			}
			acct := flagString(fs, "account")
			a := token.MFAARN{Account: acct, Path: "/", Name: name}
			if o.ARN, err = token.ParseMFAARN(a.String()); err != nil {
				return badInput(err)
			}
		}
	} else {
		if name != "" {
			return usagef("fob new: --name is for virtual devices; a %v has a --serial", model)
		}
		if serial != "" || fs.Changed("serial") {
			s, err := token.ParseSerial(serial)
			if err != nil {
				return badInput(err)
			}
			o.Serial = s
		}
	}
	home, err := openHome(env, fs, time.Time{})
	if err != nil {
		return err
	}
	o.Time = hw.TimeFunc(env.Now)
	t, err := emulator.New(model, o)
	if err != nil {
		return badInput(err)
	}
	if err := home.Create(t); err != nil {
		if errors.Is(err, emulator.ErrExists) {
			return &UsageError{Err: err, Hint: "pick another serial, or remove the old device with 'tokenlab fob rm'"}
		}
		return err
	}
	if flagBool(fs, "json") {
		return printJSON(env.Stdout, describe(t, env.Now()))
	}
	fmt.Fprintln(env.Stdout, t.ID())
	return nil
}

// fobInfo is what show and list print about a device.
type fobInfo struct {
	ID          string    `json:"id"`
	Model       string    `json:"model"`
	Serial      string    `json:"serial"`
	ARN         string    `json:"arn,omitempty"`
	State       string    `json:"state"`
	Algorithm   string    `json:"algorithm"`
	Digits      int       `json:"digits"`
	Period      int       `json:"period"`
	DriftPPM    float64   `json:"drift_ppm"`
	Offset      string    `json:"offset"`
	DeviceTime  time.Time `json:"device_time"`
	Battery     float64   `json:"battery"`
	DisplayTime string    `json:"display_time"`
	Display     string    `json:"display"` // what the display shows now; "" when blank
	Error       string    `json:"error,omitempty"`
}

func describe(t *emulator.Token, now time.Time) fobInfo {
	st := t.Firmware().Status()
	spec := t.Spec()
	fi := fobInfo{
		ID: t.ID(), Model: t.Model().String(), Serial: string(t.Serial()), State: st.State.String(),
		Algorithm: spec.Algorithm.String(), Digits: spec.Digits, Period: int(spec.Period / time.Second),
		DriftPPM: t.Clock().PPM(), Offset: t.Clock().Offset().String(), DeviceTime: t.Clock().At(now),
		Battery: float64(int(st.Battery*1000)) / 1000, DisplayTime: t.Firmware().Display().Timeout().String(),
	}
	if t.Model() == token.Virtual {
		fi.ARN = t.ARN().String()
		fi.DisplayTime = "always"
	} else {
		fi.Display, _ = t.Firmware().Display().Read(now)
	}
	return fi
}

func fobList(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("fob list: unexpected argument %q", args[0])
	}
	home, err := openHome(env, fs, time.Time{})
	if err != nil {
		return err
	}
	ents, err := home.List()
	if err != nil {
		return err
	}
	now := env.Now()
	infos := make([]fobInfo, 0, len(ents))
	for _, e := range ents {
		if e.Err != nil {
			infos = append(infos, fobInfo{ID: e.ID, Error: e.Err.Error()})
			continue
		}
		infos = append(infos, describe(e.Token, now))
	}
	return printTable(env, fs, infos, "ID\tMODEL\tSPEC\tDRIFT\tSTATE", func(i fobInfo) string {
		if i.Error != "" {
			return fmt.Sprintf("%s\t?\t?\t?\tunreadable: %s", i.ID, i.Error)
		}
		return fmt.Sprintf("%s\t%s\t%s/%d/%ds\t%+gppm\t%s", i.ID, i.Model, i.Algorithm, i.Digits, i.Period, i.DriftPPM, i.State)
	})
}

func fobShow(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	id, err := oneID("show", args)
	if err != nil {
		return err
	}
	_, t, err := loadFob(env, fs, id, time.Time{})
	if err != nil {
		return err
	}
	i := describe(t, env.Now())
	if flagBool(fs, "json") {
		return printJSON(env.Stdout, i)
	}
	w := env.Stdout
	fmt.Fprintf(w, "id:           %s\nmodel:        %s\n", i.ID, i.Model)
	if i.ARN != "" {
		fmt.Fprintf(w, "arn:          %s\n", i.ARN)
	}
	fmt.Fprintf(w, "state:        %s\nspec:         %s, %d digits, %ds\ndrift:        %+g ppm\noffset:       %s\ndevice time:  %s\nbattery:      %.0f%%\ndisplay time: %s\n",
		i.State, i.Algorithm, i.Digits, i.Period, i.DriftPPM, i.Offset, i.DeviceTime.Format(time.RFC3339Nano), i.Battery*100, i.DisplayTime)
	if i.Model != token.Virtual.String() {
		d := i.Display
		if d == "" {
			d = "blank"
		}
		fmt.Fprintf(w, "display:      %s\n", d)
	}
	return nil
}

func fobPress(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	id, err := oneID("press", args)
	if err != nil {
		return err
	}
	var at time.Time
	if s := flagString(fs, "at"); s != "" {
		if at, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return &UsageError{Err: fmt.Errorf("fob press: --at %q is not an RFC 3339 time", s), Hint: "for example --at 2030-01-01T00:00:00Z"}
		}
		if at.Unix() < 0 {
			return usagef("fob press: --at %s is before 1970", s)
		}
	}
	home, t, err := loadFob(env, fs, id, at)
	if err != nil {
		return err
	}
	r, perr := t.Press()
	// The press used some battery: keep that even when nothing was shown.
	if err := home.Save(t); err != nil {
		return err
	}
	if perr != nil {
		if errors.Is(perr, hw.ErrBrownOut) {
			return &HintError{Err: fmt.Errorf("device %s shows nothing: %w", t.ID(), perr), Hint: "its battery is flat; create a new device"}
		}
		return fmt.Errorf("device %s shows nothing: %w", t.ID(), perr)
	}
	if flagBool(fs, "json") {
		return printJSON(env.Stdout, map[string]any{
			"id": t.ID(), "serial": string(t.Serial()), "model": t.Model().String(),
			"code": r.Code, "time": r.DeviceTime, "at": r.At,
		})
	}
	fmt.Fprintln(env.Stdout, r.Code)
	return nil
}

func fobAdvance(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	id, err := oneID("advance", args)
	if err != nil {
		return err
	}
	if !fs.Changed("by") {
		return &UsageError{Err: errors.New("fob advance: --by is required"), Hint: "for example --by 90s or --by -1m"}
	}
	by, _ := fs.GetDuration("by")
	home, t, err := loadFob(env, fs, id, time.Time{})
	if err != nil {
		return err
	}
	t.Advance(by)
	if err := home.Save(t); err != nil {
		return err
	}
	now := env.Now()
	if flagBool(fs, "json") {
		return printJSON(env.Stdout, map[string]any{"id": t.ID(), "offset": t.Clock().Offset().String(), "device_time": t.Clock().At(now)})
	}
	fmt.Fprintf(env.Stdout, "%s: clock offset %s, device time %s\n", t.ID(), t.Clock().Offset(), t.Clock().At(now).Format(time.RFC3339Nano))
	return nil
}

func fobExport(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	id, err := oneID("export", args)
	if err != nil {
		return err
	}
	format := strings.ToLower(flagString(fs, "format"))
	var seedFormat provision.Format
	if format != "otpauth" {
		if seedFormat, err = provision.ParseFormat(format); err != nil {
			return &UsageError{Err: fmt.Errorf("fob export: unknown format %q", format), Hint: "use --format otpauth, pskc, csv, oath-csv or entra-csv"}
		}
	}
	_, t, err := loadFob(env, fs, id, time.Time{})
	if err != nil {
		return err
	}
	k, err := t.Key()
	if err != nil {
		return fmt.Errorf("device %s: %w", t.ID(), err)
	}
	defer k.Seed.Wipe()
	if format == "otpauth" {
		_, err = fmt.Fprintln(env.Stdout, k.URI())
		return err
	}
	w, err := provision.NewWriter(env.Stdout, seedFormat, provision.WriteOptions{})
	if err != nil {
		return err
	}
	rec := provision.Record{
		Serial: token.Serial(t.ID()), Model: t.Model(), Type: token.TOTP, Spec: k.Spec, Seed: k.Seed,
		Issuer: k.Issuer, Manufacturer: provision.DefaultManufacturer,
	}
	if err := w.Write(rec); err != nil {
		return badInput(fmt.Errorf("fob export: %w", err))
	}
	return w.Close()
}

func fobRm(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	id, err := oneID("rm", args)
	if err != nil {
		return err
	}
	home, err := openHome(env, fs, time.Time{})
	if err != nil {
		return err
	}
	if err := home.Remove(id); err != nil {
		return loadErr(id, err)
	}
	return nil
}
