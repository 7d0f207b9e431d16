package cli

// "tokenlab fido emulate": a simulated FIDO2 security key (package
// emulator's SecurityKey, firmware-sim/fidofw) exposed over UDP in the
// simulation convention and/or as a Linux UHID device, until interrupted.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/firmware-sim/fidofw"
)

func init() {
	addFidoVerb("emulate", &command{
		usage:   "fido emulate [--udp ADDR] [--uhid] [--image FILE] [--presence auto|deny|timeout|ask]",
		summary: "run a simulated FIDO2 security key over UDP (and/or Linux UHID) until interrupted",
		example: `  tokenlab fido emulate                        # UDP on 127.0.0.1:8111, answers to 127.0.0.1:7112
  tokenlab fido emulate --presence ask         # ask on the terminal for every touch
  tokenlab fido emulate --udp 127.0.0.1:9111 --image ./key.img
  sudo tokenlab fido emulate --uhid            # appear as a USB key to browsers and libfido2`,
		flags: func(fs *pflag.FlagSet) {
			fs.String("udp", "", "listen for CTAPHID-over-UDP on ADDR (default "+emulator.DefaultUDPListen+" when --uhid is not given)")
			fs.String("reply", emulator.DefaultUDPReply, `also send every report to ADDR ("-" for senders only)`)
			fs.Bool("uhid", false, "create a Linux UHID device (needs /dev/uhid)")
			fs.String("uhid-path", emulator.DefaultUHIDPath, "the UHID character device")
			fs.String("image", "", "flash image of the key (default HOME/fido/key.img)")
			fs.String("home", "", "state directory (env TOKENLAB_HOME)")
			fs.String("presence", "auto", "user presence: auto (approve), deny, timeout or ask")
			fs.Duration("presence-timeout", fidofw.DefaultPresenceTimeout, "how long timeout and ask wait for a touch")
			_ = fs.MarkHidden("uhid-path")
		},
		run: runFidoEmulate,
	})
}

func runFidoEmulate(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("fido emulate: unexpected argument %q", args[0])
	}
	udpAddr, _ := fs.GetString("udp")
	reply, _ := fs.GetString("reply")
	useUHID, _ := fs.GetBool("uhid")
	uhidPath, _ := fs.GetString("uhid-path")
	image, _ := fs.GetString("image")
	homeFlag, _ := fs.GetString("home")
	presName, _ := fs.GetString("presence")
	presTimeout, _ := fs.GetDuration("presence-timeout")
	if udpAddr == "" && !useUHID {
		udpAddr = emulator.DefaultUDPListen
	}
	pres, err := fidofw.ParsePresence(presName, env.Stdin, env.Stderr, presTimeout)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("fido emulate: unknown --presence %q", presName), Hint: "use auto, deny, timeout or ask"}
	}
	var u *emulator.UHID
	if useUHID {
		// Before the key is made: a machine without UHID gets no image.
		if u, err = emulator.OpenUHID(uhidPath); err != nil {
			return &HintError{Err: err, Hint: "this machine cannot create HID devices; run with --udp and a client that speaks the UDP convention"}
		}
	}
	if image == "" {
		home, err := homeDir(env, homeFlag)
		if err != nil {
			return err
		}
		image = filepath.Join(home, "fido", "key.img")
	}
	key, err := emulator.NewSecurityKey(emulator.SecurityKeyOptions{Image: image, Presence: pres})
	if err != nil {
		if u != nil {
			u.Close()
		}
		return &HintError{Err: fmt.Errorf("fido emulate: %w", err), Hint: "the image file " + image + " is not a FIDO key image; pass another --image"}
	}
	defer key.Close()
	fmt.Fprintf(env.Stderr, "tokenlab: security key image %s, AAGUID %s, presence %s\n", image, hex.EncodeToString(key.Authenticator().AAGUID()), presName)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	if useUHID {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := u.Serve(ctx, key); err != nil {
				errs <- fmt.Errorf("uhid: %w", err)
				cancel()
			}
		}()
		fmt.Fprintf(env.Stderr, "tokenlab: security key is a HID device (usage page 0xF1D0, %04x:%04x)\n", emulator.UHIDVendor, emulator.UHIDProduct)
	}
	if udpAddr != "" {
		srv, err := emulator.ListenUDP(key, udpAddr, reply)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("fido emulate: %w", err)
		}
		srv.OnReboot = func(err error) {
			if err != nil {
				fmt.Fprintf(env.Stderr, "tokenlab: power cycle failed: %v\n", err)
				return
			}
			fmt.Fprintf(env.Stderr, "tokenlab: power cycled (magic reboot datagram) at %s\n", time.Now().Format(time.TimeOnly))
		}
		to := reply
		if to == "-" {
			to = "senders only"
		}
		fmt.Fprintf(env.Stderr, "tokenlab: security key listening on udp %s (answers to %s and to senders); Ctrl-C stops it\n", srv.Addr(), to)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ctx); err != nil {
				errs <- fmt.Errorf("udp: %w", err)
				cancel()
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("fido emulate: %w", err)
	default:
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		fmt.Fprintln(env.Stderr, "tokenlab: security key stopped")
	}
	return nil
}
