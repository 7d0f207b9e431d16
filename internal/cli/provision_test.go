package cli

import (
	"io"
	"testing"
)

// TestProvisionScripts runs testdata/provision*.txtar (see runScripts).
func TestProvisionScripts(t *testing.T) {
	runScripts(t, "testdata/provision*.txtar", setupHome, nil)
}

// The progress bar shows on a terminal and nowhere else.
func TestProvisionProgressOnlyOnTerminal(t *testing.T) {
	for _, term := range []bool{false, true} {
		dir := t.TempDir()
		env := Env{IsTerminal: func(io.Writer) bool { return term }}
		code, _, errs := runCLI(t, env, "provision", "batch", "--model", "keyfob", "--count", "5000", "--prefix", "GAHT", "--out", dir+"/b.csv", "--format", "csv")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if term && errs == "" {
			t.Error("no progress bar on a terminal")
		}
		if !term && errs != "" {
			t.Errorf("output on a non-terminal stderr: %q", errs)
		}
	}
}
