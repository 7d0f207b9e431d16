package ctaphid

import (
	"bytes"
	"errors"
	"testing"
)

func TestFragmentRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, InitDataLen, InitDataLen + 1, InitDataLen + ContDataLen, InitDataLen + ContDataLen + 1, 1024, MaxMessageSize} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		pkts := Fragment(0x01020304, CmdPing, payload)
		want := 1
		if n > InitDataLen {
			want += (n - InitDataLen + ContDataLen - 1) / ContDataLen
		}
		if len(pkts) != want {
			t.Fatalf("n=%d: %d packets, want %d", n, len(pkts), want)
		}
		var a Assembler
		var got *Message
		for i, p := range pkts {
			m, err := a.Add(p[:])
			if err != nil {
				t.Fatalf("n=%d packet %d: %v", n, i, err)
			}
			if m != nil {
				if i != len(pkts)-1 {
					t.Fatalf("n=%d: message complete after packet %d of %d", n, i, len(pkts))
				}
				got = m
			}
		}
		if got == nil || got.CID != 0x01020304 || got.Cmd != CmdPing || !bytes.Equal(got.Data, payload) {
			t.Fatalf("n=%d: got %+v", n, got)
		}
	}
	if Fragment(1, CmdPing, make([]byte, MaxMessageSize+1)) != nil {
		t.Fatal("Fragment of an oversized payload is not nil")
	}
	if MaxMessageSize != 7609 {
		t.Fatalf("MaxMessageSize = %d", MaxMessageSize)
	}
}

func TestPacketLayout(t *testing.T) {
	p := Fragment(0xaabbccdd, CmdCBOR, []byte{4})[0]
	want := []byte{0xaa, 0xbb, 0xcc, 0xdd, 0x90, 0x00, 0x01, 0x04}
	if !bytes.Equal(p[:8], want) {
		t.Fatalf("init packet %x, want %x", p[:8], want)
	}
	q := Fragment(0xaabbccdd, CmdCBOR, make([]byte, 100))[1]
	if !bytes.Equal(q[:5], []byte{0xaa, 0xbb, 0xcc, 0xdd, 0x00}) {
		t.Fatalf("cont packet %x", q[:5])
	}
}

func TestAssemblerRules(t *testing.T) {
	long := make([]byte, 200) // 4 packets
	a1 := Fragment(1, CmdCBOR, long)
	b1 := Fragment(2, CmdCBOR, long)
	tests := []struct {
		name    string
		pkts    [][ReportLen]byte
		code    ErrCode // expected error on the last packet, 0 for none
		aborted bool
	}{
		{"seq skipped", [][ReportLen]byte{a1[0], a1[2]}, ErrInvalidSeq, true},
		{"seq repeated", [][ReportLen]byte{a1[0], a1[1], a1[1]}, ErrInvalidSeq, true},
		{"other channel init while busy", [][ReportLen]byte{a1[0], b1[0]}, ErrChannelBusy, false},
		{"same channel new init", [][ReportLen]byte{a1[0], a1[0]}, ErrInvalidSeq, true},
		{"channel zero", [][ReportLen]byte{Fragment(0, CmdPing, nil)[0]}, ErrInvalidChannel, false},
		{"broadcast non-INIT", [][ReportLen]byte{Fragment(BroadcastCID, CmdPing, nil)[0]}, ErrInvalidChannel, false},
		{"length too big", [][ReportLen]byte{InitPacket(1, CmdPing, MaxMessageSize+1, nil)}, ErrInvalidLen, false},
		{"spurious cont ignored", [][ReportLen]byte{a1[1]}, 0, false},
		{"foreign cont ignored", [][ReportLen]byte{a1[0], b1[1]}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Assembler
			var err error
			for _, p := range tt.pkts {
				_, err = a.Add(p[:])
			}
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var pe *PacketError
			if !errors.As(err, &pe) || pe.Code != tt.code || pe.Aborted != tt.aborted {
				t.Fatalf("err = %#v, want code %v aborted %v", err, tt.code, tt.aborted)
			}
			if !errors.Is(err, tt.code) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tt.code)
			}
		})
	}
}

func TestBusyChannelKeepsMessage(t *testing.T) {
	payload := bytes.Repeat([]byte{9}, 100)
	a1 := Fragment(1, CmdPing, payload)
	var a Assembler
	a.Add(a1[0][:])
	b := Fragment(2, CmdPing, nil)[0]
	if _, err := a.Add(b[:]); !errors.Is(err, ErrChannelBusy) {
		t.Fatalf("err = %v", err)
	}
	m, err := a.Add(a1[1][:])
	if err != nil || m == nil || !bytes.Equal(m.Data, payload) {
		t.Fatalf("m=%v err=%v", m, err)
	}
}

func TestInitResyncs(t *testing.T) {
	var a Assembler
	a.Add(Fragment(1, CmdPing, make([]byte, 100))[0][:])
	p := Fragment(1, CmdInit, make([]byte, 8))[0]
	m, err := a.Add(p[:])
	if err != nil || m == nil || m.Cmd != CmdInit {
		t.Fatalf("m=%v err=%v", m, err)
	}
}

func TestInitResponseRoundTrip(t *testing.T) {
	r := InitResponse{Nonce: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, CID: 0x11223344, ProtocolVersion: 2, Major: 1, Minor: 2, Build: 3, Capabilities: CapWink | CapCBOR}
	b := r.Marshal()
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x22, 0x33, 0x44, 2, 1, 2, 3, 5}
	if !bytes.Equal(b, want) {
		t.Fatalf("%x", b)
	}
	got, err := ParseInitResponse(b)
	if err != nil || *got != r {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := ParseInitResponse(b[:16]); err == nil {
		t.Fatal("short INIT response accepted")
	}
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{CmdCBOR.String(), "CBOR"}, {CmdKeepalive.String(), "KEEPALIVE"}, {Cmd(0x99).String(), "Cmd(0x99)"},
		{ErrChannelBusy.String(), "ERR_CHANNEL_BUSY"}, {StatusUPNeeded.String(), "UPNEEDED"},
		{(CapWink | CapCBOR).String(), "WINK|CBOR"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// FuzzAssembler feeds arbitrary packet streams: the assembler must never
// panic, never return a message longer than MaxMessageSize or than its
// BCNT, and return nil when it returns an error.
func FuzzAssembler(f *testing.F) {
	for _, n := range []int{0, 57, 58, 200} {
		var s []byte
		for _, p := range Fragment(7, CmdCBOR, make([]byte, n)) {
			s = append(s, p[:]...)
		}
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		var a Assembler
		for len(stream) > 0 {
			n := min(len(stream), ReportLen)
			m, err := a.Add(stream[:n])
			stream = stream[n:]
			if err != nil && m != nil {
				t.Fatal("message and error")
			}
			if m != nil && len(m.Data) > MaxMessageSize {
				t.Fatal("message too long")
			}
		}
	})
}
