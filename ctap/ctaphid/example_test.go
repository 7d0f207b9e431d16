package ctaphid_test

import (
	"fmt"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// A message of 100 bytes takes an initialisation packet (57 bytes of
// payload) and one continuation packet; the Assembler puts it back together.
func ExampleFragment() {
	payload := make([]byte, 100)
	pkts := ctaphid.Fragment(0x01020304, ctaphid.CmdPing, payload)
	var a ctaphid.Assembler
	for _, p := range pkts {
		m, err := a.Add(p[:])
		if err != nil {
			panic(err)
		}
		if m != nil {
			fmt.Println(len(pkts), "packets:", m.Cmd, len(m.Data), "bytes on channel", fmt.Sprintf("%08x", m.CID))
		}
	}
	// Output: 2 packets: PING 100 bytes on channel 01020304
}
