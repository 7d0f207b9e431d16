package cli

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tokenlab/tokenlab/emulator"
)

// listenSimKey starts an in-process simulated key behind a UDP server on a
// free port and returns its address and what stops it.
func listenSimKey() (addr string, stop func(), err error) {
	k, err := emulator.NewSecurityKey(emulator.SecurityKeyOptions{})
	if err != nil {
		return "", nil, err
	}
	srv, err := emulator.ListenUDP(k, "127.0.0.1:0", "-")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Serve(ctx)
	return srv.Addr().String(), func() { cancel(); srv.Close(); k.Close() }, nil
}

// simUDP starts a simulated key over UDP for the test and returns its
// address.
func simUDP(t *testing.T) string {
	t.Helper()
	addr, stop, err := listenSimKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

func runFido(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLI(t, Env{Stdin: strings.NewReader(stdin)}, append([]string{"fido"}, args...)...)
}

// TestFidoScripts runs testdata/fido_host*.txtar; the script command
// "simkey" starts a simulated key over UDP and sets $SIMKEY to its address.
func TestFidoScripts(t *testing.T) {
	runScripts(t, "testdata/fido_host*.txtar", setupHome, map[string]scriptCmd{
		"simkey": func(ts *testscript.TestScript, neg bool, args []string) {
			addr, stop, err := listenSimKey()
			ts.Check(err)
			ts.Defer(stop)
			ts.Setenv("SIMKEY", addr)
		},
	})
}

func TestFidoListNoKey(t *testing.T) {
	code, out, errs := runFido(t, "", "list")
	if code != 0 || out != "" || !strings.Contains(errs, "no FIDO security key found") {
		t.Fatalf("code %d out %q err %q", code, out, errs)
	}
	code, out, _ = runFido(t, "", "list", "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("code %d out %q", code, out)
	}
}

func TestFidoUSBWithoutKey(t *testing.T) {
	code, _, errs := runFido(t, "", "info")
	if code != 1 || !strings.Contains(errs, "no FIDO security key found") || !strings.Contains(errs, "tokenlab: hint:") {
		t.Fatalf("code %d err %q", code, errs)
	}
	code, _, errs = runFido(t, "", "info", "--device", "0001:0002:00")
	if code != 1 || !strings.Contains(errs, "tokenlab: error:") {
		t.Fatalf("code %d err %q", code, errs)
	}
}

func TestFidoOverUDP(t *testing.T) {
	addr := simUDP(t)
	dev := []string{"--udp", addr, "--udp-local", "127.0.0.1:0"}
	code, out, errs := runFido(t, "", append([]string{"info", "--json"}, dev...)...)
	if code != 0 {
		t.Fatalf("info: %d %s", code, errs)
	}
	var info struct {
		AAGUID string `json:"aaguid"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || len(info.AAGUID) != 36 {
		t.Fatalf("info: %v %q", err, out)
	}
	if code, _, errs = runFido(t, "246810\n", append([]string{"pin", "set"}, dev...)...); code != 0 {
		t.Fatalf("pin set: %d %s", code, errs)
	}
	if code, _, errs = runFido(t, "", append([]string{"pin", "set", "--new-pin", "11112222"}, dev...)...); code != 1 || !strings.Contains(errs, "pin change") {
		t.Fatalf("pin set again: %d %s", code, errs)
	}
	if code, _, errs = runFido(t, "", append([]string{"pin", "change", "--pin", "000000", "--new-pin", "11112222"}, dev...)...); code != 1 || !strings.Contains(errs, "CTAP2_ERR_PIN_INVALID") {
		t.Fatalf("pin change wrong: %d %s", code, errs)
	}
	if code, _, errs = runFido(t, "246810\n13572468\n", append([]string{"pin", "change"}, dev...)...); code != 0 {
		t.Fatalf("pin change: %d %s", code, errs)
	}
	code, out, errs = runFido(t, "", append([]string{"creds", "list", "--pin", "13572468", "--json"}, dev...)...)
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("creds list: %d %q %s", code, out, errs)
	}
	junit := filepath.Join(t.TempDir(), "fido.xml")
	code, out, errs = runFido(t, "", append([]string{"test", "--pin", "13572468", "--junit", junit}, dev...)...)
	t.Logf("\n%s", out)
	// Over UDP the CLI cannot withhold a touch: keepalive and cancel skip.
	if code != 0 || !strings.Contains(out, " 0 failed") || !strings.Contains(out, "SKIP    hid.cancel") {
		t.Fatalf("test: %d %s %s", code, out, errs)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Tests int    `xml:"tests,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) < 5 {
		t.Fatalf("junit: %v %d suites", err, len(suites.Suites))
	}
	code, out, _ = runFido(t, "", append([]string{"test", "--json", "--only", "hid.ping-7609,ga.counter"}, dev...)...)
	var rep struct {
		Results []struct{ Name, Outcome string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || len(rep.Results) != 2 {
		t.Fatalf("json: %d %v %s", code, err, out)
	}
	if code, _, _ = runFido(t, "", append([]string{"test", "--only", "no.such"}, dev...)...); code != 2 {
		t.Fatalf("unknown check: exit %d", code)
	}
	if code, _, errs = runFido(t, "", append([]string{"reset"}, dev...)...); code != 2 || !strings.Contains(errs, "--yes") {
		t.Fatalf("reset without --yes: %d %s", code, errs)
	}
}

func TestFidoNoSimulation(t *testing.T) {
	code, _, errs := runFido(t, "", "info", "--udp", "127.0.0.1:9", "--udp-local", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errs, "fido emulate") {
		t.Fatalf("code %d err %q", code, errs)
	}
}
