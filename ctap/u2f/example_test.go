package u2f_test

import (
	"fmt"

	"github.com/tokenlab/tokenlab/ctap/u2f"
)

func ExampleCommand_Marshal() {
	fmt.Printf("% x\n", (&u2f.Command{INS: u2f.InsVersion}).Marshal())
	data, sw, _ := u2f.SplitResponse([]byte("U2F_V2\x90\x00"))
	fmt.Println(string(data), sw.String())
	// Output:
	// 00 03 00 00 00 00 00
	// U2F_V2 SW_NO_ERROR
}
