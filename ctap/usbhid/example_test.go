package usbhid_test

import (
	"context"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/usbhid"
)

func ExampleEnumerate() {
	keys, err := usbhid.Enumerate()
	if err != nil || len(keys) == 0 {
		fmt.Println("no key")
		return
	}
	d, err := usbhid.Open(keys[0].Path)
	if err != nil {
		fmt.Println(err) // on Linux, ErrPermission: see usbhid.PermissionHint
		return
	}
	dev := ctaphid.NewDevice(d)
	defer dev.Close()
	ch, err := dev.Open(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	info, _ := ctap.NewClient(ch).GetInfo(context.Background())
	fmt.Println(info.Versions)
}
