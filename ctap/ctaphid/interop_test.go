package ctaphid_test

import (
	"bytes"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/internal/testtool"
)

// pyFrame sends a payload through python-fido2's CtapHidDevice.call over a
// recording connection and prints the packets it wrote, one hex line each.
const pyFrame = `
import sys
from fido2.hid import CtapHidDevice
class Rec:
    def __init__(self): self.out = []
    def write_packet(self, p): self.out.append(p)
    def read_packet(self): raise EOFError
class Desc:
    report_size_out = 64
    report_size_in = 64
cid, cmd, payload = int(sys.argv[1], 16), int(sys.argv[2], 16), bytes.fromhex(sys.argv[3])
d = CtapHidDevice.__new__(CtapHidDevice)
d.descriptor, d._connection, d._channel_id = Desc(), Rec(), cid
try:
    d.call(cmd, payload)
except Exception:
    pass
for p in d._connection.out:
    print(p.hex())
`

// TestFramingAgainstPythonFido2 compares Fragment with python-fido2's own
// packetisation, an implementation the device side does not share.
func TestFramingAgainstPythonFido2(t *testing.T) {
	py := testtool.NeedPython(t, "fido2.hid", "python3-fido2")
	for _, n := range []int{0, 57, 58, 200, ctaphid.MaxMessageSize} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i*31 + 7)
		}
		out, err := exec.Command(py, "-c", pyFrame, "0a0b0c0d", "10", hex.EncodeToString(payload)).CombinedOutput()
		if err != nil {
			t.Fatalf("python-fido2: %v\n%s", err, out)
		}
		lines := strings.Fields(string(out))
		ours := ctaphid.Fragment(0x0a0b0c0d, ctaphid.CmdCBOR, payload)
		if len(lines) != len(ours) {
			t.Fatalf("n=%d: python-fido2 wrote %d packets, we %d", n, len(lines), len(ours))
		}
		for i, l := range lines {
			theirs, _ := hex.DecodeString(l)
			if !bytes.Equal(theirs, ours[i][:]) {
				t.Fatalf("n=%d packet %d:\n ours   %x\n python %x", n, i, ours[i], theirs)
			}
		}
	}
}
