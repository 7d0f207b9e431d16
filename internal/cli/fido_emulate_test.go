package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func emulateEnv(stderr io.Writer) *Env {
	return &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr,
		Getenv: func(string) string { return "" }, Now: time.Now, IsTerminal: func(io.Writer) bool { return false }}
}

func TestFidoEmulateUDP(t *testing.T) {
	img := filepath.Join(t.TempDir(), "k", "key.img")
	stderr := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"fido", "emulate", "--udp", "127.0.0.1:0", "--reply", "-", "--image", img}, emulateEnv(stderr))
	}()
	re := regexp.MustCompile(`listening on udp (127\.0\.0\.1:\d+)`)
	var addr string
	for i := 0; i < 200 && addr == ""; i++ {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		cancel()
		t.Fatalf("no listening line: %s", stderr.String())
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := ctaphid.InitPacket(ctaphid.BroadcastCID, ctaphid.CmdInit, 8, []byte("12345678"))
	c.Write(p[:])
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || n != 64 || string(buf[7:15]) != "12345678" {
		t.Fatalf("INIT over UDP: %x %v", buf, err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(img); err != nil {
		t.Errorf("image not written: %v", err)
	}
}

func TestFidoEmulateErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no uhid", []string{"--uhid", "--uhid-path", filepath.Join(dir, "uhid"), "--image", filepath.Join(dir, "a.img")}, 1, "UHID is not available"},
		{"bad presence", []string{"--presence", "maybe", "--image", filepath.Join(dir, "b.img")}, 2, "unknown --presence"},
		{"stray argument", []string{"extra"}, 2, "unexpected argument"},
	} {
		t.Run(c.name, func(t *testing.T) {
			stderr := &syncBuffer{}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			code := Main(ctx, append([]string{"fido", "emulate"}, c.args...), emulateEnv(stderr))
			if code != c.code || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("exit %d, stderr %q", code, stderr.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "a.img")); err == nil {
				t.Error("a key image was made although the command failed")
			}
		})
	}
}
