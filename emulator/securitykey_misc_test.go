package emulator

import (
	"crypto/rand"
	"fmt"
	"io"
)

func nil2() io.Reader { return rand.Reader }

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }
