package seal_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tokenlab/tokenlab/verify/seal"
)

func Example() {
	dir, _ := os.MkdirTemp("", "kek-example")
	defer os.RemoveAll(dir)
	s, err := seal.LoadOrCreateKEK(filepath.Join(dir, "kek")) // created 0600 on first start
	if err != nil {
		fmt.Println(err)
		return
	}
	id, ct, _ := s.Seal([]byte("seed bytes"), []byte("device:GAHT12345678"))
	pt, err := s.Open(id, ct, []byte("device:GAHT12345678"))
	fmt.Println(string(pt), err)
	_, err = s.Open(id, ct, []byte("device:GAHT00000000")) // moved to another row
	fmt.Println(err)
	// Output:
	// seed bytes <nil>
	// seal: ciphertext does not authenticate
}
