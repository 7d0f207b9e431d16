package otpfw

import (
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
)

// FuzzFactoryPort feeds request lines to the parser and to a factory-state
// firmware: no panic; a parse error comes with a nil request; a request has
// a known verb and the right number of arguments; every answer is one OK or
// ERR line.
func FuzzFactoryPort(f *testing.F) {
	for _, s := range []string{
		"IDENTIFY", "SERIAL GAHT12345674", "SEED 3132333435363738393031323334353637383930",
		"SPEC SHA1 6 30", "SPEC SHA512 8 60", "TIME 1111111109", "TIME 1111111109.5", "SELFTEST",
		"LOCK", "STATUS", "READSEED", "FROB", "", "SEED zz", "SPEC SHA1 7 30", "TIME -1", "SERIAL a b",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, code, err := parseRequest(line)
		if err != nil {
			if req != nil {
				t.Fatalf("error %v with a request %+v", err, req)
			}
			if _, ok := codeErrors[code]; !ok {
				t.Fatalf("error %v with unknown code %q", err, code)
			}
		} else if n, ok := argCount[req.verb]; !ok || n != len(req.args) {
			t.Fatalf("request %+v", req)
		}
		src := hw.NewManualTime(time.Unix(1111111109, 0))
		fw, err := New(Config{Clock: hw.NewClock(src, 0)})
		if err != nil {
			t.Fatal(err)
		}
		ans := fw.handle(line)
		if !(ans == "OK" || strings.HasPrefix(ans, "OK ") || strings.HasPrefix(ans, "ERR ")) || strings.ContainsAny(ans, "\r\n") {
			t.Fatalf("answer %q", ans)
		}
		if strings.HasPrefix(ans, "ERR ") {
			c, _, _ := strings.Cut(ans[4:], " ")
			if _, ok := codeErrors[c]; !ok {
				t.Fatalf("answer %q has an unknown code", ans)
			}
		}
		if _, err := parseTime(string(line)); err == nil && len(line) > 0 && line[0] == '-' {
			t.Fatalf("negative time %q accepted", line)
		}
	})
}
