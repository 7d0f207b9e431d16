// Package testtool finds the outside tools that tests cross-check against
// (oathtool, pskctool, python-pskc, python-fido2, zbarimg, the AWS CLI,
// chromium, PostgreSQL). A missing tool skips the test with a message saying
// how to get it, unless TOKENLAB_REQUIRE_TOOLS=1 (set by .ci/run), in which
// case it fails the test.
package testtool

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Python is Debian's interpreter, the one that has Debian's python3-* modules.
const Python = "/usr/bin/python3"

// Required reports whether TOKENLAB_REQUIRE_TOOLS asks for every tool.
func Required() bool { return os.Getenv("TOKENLAB_REQUIRE_TOOLS") == "1" }

func missing(t testing.TB, what, how string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is missing and TOKENLAB_REQUIRE_TOOLS=1: %s", what, how)
	}
	t.Skipf("%s is missing (%s); skipping", what, how)
}

// Need returns the path of an executable (an absolute path is checked as it
// is; a bare name is looked up on PATH), or skips/fails the test.
func Need(t testing.TB, name, debianPkg string) string {
	t.Helper()
	var p string
	var err error
	if strings.HasPrefix(name, "/") {
		_, err = os.Stat(name)
		p = name
	} else {
		p, err = exec.LookPath(name)
	}
	if err != nil {
		missing(t, name, "run 'make deps' or apt-get install "+debianPkg)
		return ""
	}
	return p
}

// NeedPython checks that /usr/bin/python3 can import module (from Debian
// package debianPkg) and returns the interpreter's path.
func NeedPython(t testing.TB, module, debianPkg string) string {
	t.Helper()
	Need(t, Python, "python3")
	if err := exec.Command(Python, "-c", "import "+module).Run(); err != nil {
		missing(t, "python module "+module, "run 'make deps' or apt-get install "+debianPkg)
	}
	return Python
}

// PostgresDSN returns TOKENLAB_TEST_PG, or skips/fails the test.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("TOKENLAB_TEST_PG")
	if dsn == "" {
		missing(t, "PostgreSQL (TOKENLAB_TEST_PG)", `start one with: eval "$(scripts/pg-start)"`)
	}
	return dsn
}
