package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/internal/testtool"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

// browser is headless Debian chromium driven over the DevTools protocol,
// with a virtual FIDO2 authenticator on USB (WebAuthn domain).
type browser struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
	shot      int
}

// artifactsDir is where screenshots go: $TOKENLAB_ARTIFACTS/<test>, else
// a temporary directory (logged).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("TOKENLAB_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func newBrowser(t *testing.T, timeout time.Duration) *browser {
	t.Helper()
	exe := testtool.Need(t, "/usr/bin/chromium", "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // root in a container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	b := &browser{t: t, ctx: bctx, artifacts: artifactsDir(t)}
	if _, err := chromedp.Call(bctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	_, err := chromedp.Call(bctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Transport:                   webauthn.AuthenticatorTransportUsb,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return b
}

// do runs steps within a minute, failing the test with a screenshot on
// error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	for _, step := range steps {
		if err := retryNavigation(func() error { return chromedp.Do(ctx, step) }); err != nil {
			b.screenshot("failed-" + what)
			loc, _ := chromedp.Run(b.ctx, chromedp.Location())
			b.t.Fatalf("%s: %v (at %s)", what, err, loc)
		}
	}
}

// retryNavigation runs f again while it fails because the page it was
// looking at is being replaced: a step that runs while a click's
// navigation swaps the document gets "Cannot find context with specified
// id" from the DevTools protocol. Such a step failed while finding its
// page, before it had any effect, so running it again is safe.
func retryNavigation(f func() error) error {
	var err error
	for try := 0; try < 10; try++ {
		if err = f(); err == nil || !strings.Contains(err.Error(), "Cannot find context with specified id") {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// screenshot saves the page as NN-name.png among the artifacts.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shot++
	p := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s.png", b.shot, name))
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// submit clicks sel and waits for ok, or fails at once with the message
// of the page's error box (a refused code, a refused ceremony).
func (b *browser) submit(what, sel, ok string) {
	b.t.Helper()
	// Error boxes of the page before are not the answer to this submit.
	b.do(what, chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#error, #webauthn-error").forEach(e => e.remove())`),
		chromedp.Click(chromedp.CSS(sel)),
		chromedp.WaitVisible(chromedp.CSS(ok+", #error, #webauthn-error:not([hidden])")))
	for _, e := range []string{"#error", "#webauthn-error:not([hidden])"} {
		if !strings.Contains(ok, e) && b.present(e) {
			b.screenshot("failed-" + what)
			b.t.Fatalf("%s: the page says %q", what, b.text(e))
		}
	}
}

func (b *browser) present(sel string) bool {
	var n bool
	err := retryNavigation(func() (err error) {
		n, err = chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%q) !== null", sel)))
		return err
	})
	return err == nil && n
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	var s string
	err := retryNavigation(func() (err error) {
		s, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		return err
	})
	if err != nil {
		b.screenshot("failed-text")
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) signIn(base, user string) {
	b.t.Helper()
	b.do("sign-in page",
		chromedp.Navigate(base+"/console/signin"),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")),
		chromedp.SendKeys(chromedp.CSS("#user"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
	)
	b.screenshot("signin")
	b.do("sign in", chromedp.Click(chromedp.CSS("#signin")))
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin-form")))
}

// assign walks "Assign MFA device" to the page of the chosen kind.
func (b *browser) assign(choice, name, wait string) {
	b.t.Helper()
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(strings.TrimSuffix(b.location(), b.path()) + "/console/mfa/assign"),
		chromedp.WaitVisible(chromedp.CSS("#assign-form")),
	}
	if name != "" {
		steps = append(steps, chromedp.SendKeys(chromedp.CSS("#name"), name))
	}
	b.do("assign "+choice, append(steps, chromedp.Click(chromedp.CSS("#choice-"+choice)))...)
	b.screenshot("assign-" + choice)
	// submit, not a click and a wait: the page may show an error already
	// (a user at the device limit), which a wait for "#error" would find
	// on this page before the next one replaced it.
	b.submit("next", "#next", wait)
}

func (b *browser) location() string {
	var loc string
	err := retryNavigation(func() (err error) {
		loc, err = chromedp.Run(b.ctx, chromedp.Location())
		return err
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

func (b *browser) path() string {
	loc := b.location()
	i := strings.Index(loc, "/console")
	if i < 0 {
		return ""
	}
	return loc[i:]
}

// row is the CSS selector of a device row of kind.
func row(kind verify.Kind) string { return `#devices tr[data-kind="` + string(kind) + `"]` }

// TestBrowser drives the console in chromium: a security key registered
// with the virtual authenticator, then the second factor of the next
// sign-in; an authenticator app assigned by decoding the QR code the page
// shows (zbarimg) and typing two codes of an emulated virtual MFA, then a
// sign-in with a wrong and a right code of it; a hardware token from an
// imported batch, resynchronized, then removed; the ninth device refused;
// the administrator's pages (a token reported lost) and their refusal to
// others; an idle session expiring. Every page is saved as a screenshot.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	zbarimg := testtool.Need(t, "zbarimg", "zbar-tools")
	e := newEnv(t)
	b := newBrowser(t, 4*time.Minute)

	// 127.0.0.1 sends the browser to localhost, a valid relying party ID.
	b.do("redirect to localhost", chromedp.Navigate(strings.Replace(e.url, "localhost", "127.0.0.1", 1)+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")))
	if loc := b.location(); !strings.HasPrefix(loc, e.url+"/console/signin") {
		t.Fatalf("at %s, want %s/console/signin", loc, e.url)
	}

	t.Log("security key: register, sign out, sign in with it")
	b.signIn(e.url, "alice")
	b.do("no-MFA landing", chromedp.WaitVisible(chromedp.CSS("#no-devices")))
	b.screenshot("credentials-empty")
	b.assign("fido", "browser-key", "#register")
	b.screenshot("assign-fido-register")
	b.submit("register the key", "#register", row(verify.KindFIDO))
	b.screenshot("credentials-key")
	creds, err := e.svc.FIDOCredentials(e.ctx, "alice")
	if err != nil || len(creds) != 1 || creds[0].Name != "browser-key" {
		t.Fatalf("stored credentials %+v, %v", creds, err)
	}
	if txt := b.text(row(verify.KindFIDO) + " .arn"); txt != creds[0].Device || !strings.Contains(txt, ":u2f/user/alice/browser-key-") {
		t.Fatalf("page shows %q, stored %q", txt, creds[0].Device)
	}
	b.signOut()
	b.signIn(e.url, "alice")
	b.do("MFA page", chromedp.WaitVisible(chromedp.CSS("#use-key")))
	b.screenshot("mfa-key")
	b.submit("sign in with the key", "#use-key", row(verify.KindFIDO))
	if !e.audited("fido-login", "ok", "") {
		t.Fatal("the key's sign-in is not in the audit log")
	}

	t.Log("authenticator app: QR code decoded with zbarimg, two codes of an emulated virtual MFA")
	b.assign("virtual", "phone", "#qr")
	b.screenshot("assign-virtual-qr")
	var qr []byte
	err = retryNavigation(func() (err error) {
		qr, err = chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS("#qr"), chromedp.NodeVisible))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	qrFile := filepath.Join(b.artifacts, "qr.png")
	if err := os.WriteFile(qrFile, qr, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(b.ctx, zbarimg, "--raw", "-q", qrFile).Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v", qrFile, err)
	}
	uri := strings.TrimSpace(string(out))
	key, err := token.ParseURI(uri)
	if err != nil {
		t.Fatalf("QR code %q: %v", uri, err)
	}
	arnText := b.text("#virtual-arn")
	arn, err := token.ParseMFAARN(arnText)
	if err != nil {
		t.Fatal(err)
	}
	app, err := emulator.NewVirtualMFA(emulator.Options{Seed: key.Seed, Spec: key.Spec, ARN: arn, Time: hw.TimeFunc(e.totp)})
	if err != nil {
		t.Fatal(err)
	}
	code1, _ := app.Display()
	app.Advance(key.Spec.Period)
	code2, _ := app.Display()
	b.do("type two codes",
		chromedp.SendKeys(chromedp.CSS("#code1"), code1),
		chromedp.SendKeys(chromedp.CSS("#code2"), code2))
	b.submit("add the app", "#add-virtual", row(verify.KindVirtual))
	b.screenshot("credentials-app")

	t.Log("sign in with a code of the authenticator app (a wrong one first)")
	b.signOut()
	b.signIn(e.url, "alice")
	b.do("MFA with a code", chromedp.WaitVisible(chromedp.CSS("#mfa-form")),
		chromedp.SetValue(chromedp.CSS("#device"), arnText), chromedp.SendKeys(chromedp.CSS("#code"), "000000"))
	b.do("wrong code", chromedp.Click(chromedp.CSS("#submit-code")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := b.text("#error"); !strings.Contains(msg, "not valid") {
		t.Fatalf("a wrong code: the page says %q", msg)
	}
	b.screenshot("mfa-wrong-code")
	app.Advance(key.Spec.Period)
	code3, _ := app.Display()
	b.do("right code", chromedp.SetValue(chromedp.CSS("#device"), arnText), chromedp.SendKeys(chromedp.CSS("#code"), code3))
	b.submit("code of the app", "#submit-code", "#devices")

	t.Log("hardware token from an imported batch")
	fobs := e.batch(8, "GABT") // a PSKC seed file from the production line, imported
	b.assign("hardware", "", "#hardware-form")
	c1, c2 := e.codes(fobs[0].Token)
	b.do("hardware token",
		chromedp.SendKeys(chromedp.CSS("#serial"), string(fobs[0].Serial())),
		chromedp.SendKeys(chromedp.CSS("#code1"), c1),
		chromedp.SendKeys(chromedp.CSS("#code2"), c2))
	b.screenshot("assign-hardware")
	b.submit("add hardware", "#add-hardware", row(verify.KindHardware))
	b.screenshot("credentials-three")
	if n := b.text("#device-count"); n != "3 of 8" {
		t.Fatalf("device count %q", n)
	}

	t.Log("resync the token after its clock ran ten minutes ahead")
	b.do("resync page", chromedp.Click(chromedp.CSS(row(verify.KindHardware)+" a.resync")), chromedp.WaitVisible(chromedp.CSS("#resync-form")),
		chromedp.SendKeys(chromedp.CSS("#code1"), e.codeAt(fobs[0].Token, 20)),
		chromedp.SendKeys(chromedp.CSS("#code2"), e.codeAt(fobs[0].Token, 21)))
	b.screenshot("resync")
	b.submit("resync", "#resync", "#flash")
	if msg := b.text("#flash"); !strings.Contains(msg, "resynchronized") {
		t.Fatalf("resync: %q", msg)
	}
	if d, err := e.svc.GetDevice(e.ctx, string(fobs[0].Serial())); err != nil || d.Drift < 19 {
		t.Fatalf("after the resync: %+v, %v", d, err)
	}

	t.Log("remove a device")
	b.do("remove the hardware token",
		chromedp.Evaluate[chromedp.Void]("window.confirm = () => true"),
		chromedp.Click(chromedp.CSS(row(verify.KindHardware)+" .remove button")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
		chromedp.WaitNotPresent(chromedp.CSS(row(verify.KindHardware))))
	b.screenshot("credentials-removed")
	if d, err := e.svc.GetDevice(e.ctx, string(fobs[0].Serial())); err != nil || d.State != verify.StateAvailable {
		t.Fatalf("removed token: %+v, %v; want it back in the inventory", d, err)
	}

	t.Log("the ninth device is refused on the page")
	for _, f := range fobs[1:7] { // 2 + 6 = 8 devices
		a, bb := e.codes(f.Token)
		if err := e.svc.Enable(e.ctx, "alice", string(f.Serial()), a, bb); err != nil {
			t.Fatal(err)
		}
	}
	b.do("credentials full", chromedp.Navigate(e.url+"/console/security-credentials"), chromedp.WaitVisible(chromedp.CSS("#full")))
	b.screenshot("credentials-full")
	b.assign("hardware", "", "#error")
	if msg := b.text("#error"); !strings.Contains(msg, "MFADevicesPerUser: 8") {
		t.Fatalf("ninth device: page says %q", msg)
	}
	b.screenshot("ninth-refused")

	t.Log("administrator's views")
	b.signOut()
	b.signIn(e.url, "root")
	b.do("root lands", chromedp.WaitVisible(chromedp.CSS("#no-devices")))
	for _, p := range []struct{ path, sel, want string }{
		{"/console/admin/users", "#users", "alice"},
		{"/console/admin/inventory", "#inventory", string(fobs[7].Serial())},
		{"/console/admin/audit", "#audit", "fido-register"},
	} {
		b.do(p.path, chromedp.Navigate(e.url+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel)))
		b.screenshot(strings.TrimPrefix(strings.ReplaceAll(p.path, "/", "-"), "-console-"))
		if txt := b.text(p.sel); !strings.Contains(txt, p.want) {
			t.Fatalf("%s does not show %q", p.path, p.want)
		}
	}
	lost := string(fobs[1].Serial())
	b.do("alice's devices", chromedp.Navigate(e.url+"/console/admin/users/alice"), chromedp.WaitVisible(chromedp.CSS("#user-devices")),
		chromedp.Evaluate[chromedp.Void]("window.confirm = () => true"))
	b.screenshot("admin-user")
	b.submit("report lost", `#user-devices tr[data-device="`+lost+`"] button.lost`, "#flash")
	if msg := b.text("#flash"); !strings.Contains(msg, "Detached from alice") {
		t.Fatalf("report lost: %q", msg)
	}
	b.screenshot("admin-user-lost")
	if d, err := e.svc.GetDevice(e.ctx, lost); err != nil || d.State != verify.StateLost || d.User != "" {
		t.Fatalf("lost token: %+v, %v", d, err)
	}

	// Not for everyone.
	b.signOut()
	b.signIn(e.url, "alice")
	b.do("alice's MFA", chromedp.WaitVisible(chromedp.CSS("#use-key")),
		chromedp.Click(chromedp.CSS("#use-key")), chromedp.WaitVisible(chromedp.CSS("#devices")),
		chromedp.Navigate(e.url+"/console/admin/audit"), chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := b.text("#error"); !strings.Contains(msg, "administrators") {
		t.Fatalf("admin page for alice says %q", msg)
	}
	b.screenshot("admin-forbidden")

	t.Log("an idle session expires")
	e.clock.Advance(16 * time.Minute)
	b.do("after 16 idle minutes", chromedp.Navigate(e.url+"/console/security-credentials"), chromedp.WaitVisible(chromedp.CSS("#signin-form")))
	if msg := b.text("#flash"); !strings.Contains(msg, "expired") {
		t.Fatalf("expired session: the page says %q", msg)
	}
	b.screenshot("session-expired")
	if !e.audited("console-session", "refused", "expired") {
		t.Fatal("the expiry is not audited")
	}
}
