package pipe_test

import (
	"context"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/pipe"
)

// A toy device on the far end of a pipe answers INIT and echoes PING.
func Example() {
	host, dev := pipe.New()
	go func() {
		var a ctaphid.Assembler
		buf := make([]byte, ctaphid.ReportLen)
		for {
			if _, err := dev.Read(buf); err != nil {
				return
			}
			m, _ := a.Add(buf)
			if m == nil {
				continue
			}
			data := m.Data
			if m.Cmd == ctaphid.CmdInit {
				r := ctaphid.InitResponse{CID: 7, ProtocolVersion: ctaphid.ProtocolVersion}
				copy(r.Nonce[:], m.Data)
				data = r.Marshal()
			}
			for _, p := range ctaphid.Fragment(m.CID, m.Cmd, data) {
				dev.Write(p[:])
			}
		}
	}()
	d := ctaphid.NewDevice(host)
	defer d.Close()
	ch, _ := d.Open(context.Background())
	fmt.Println(ch.CID(), ch.Ping(context.Background(), []byte("hello")))
	// Output: 7 <nil>
}
