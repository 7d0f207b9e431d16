// Package emulator holds the MFA devices people use in tests and demos,
// built from the firmware of package otpfw on the simulated hardware of
// package hw: a [KeyFob], a [DisplayCard] (an ID-1 card whose code stays on
// its e-paper display for 20 s), a [VirtualMFA] (an authenticator app,
// named by an IAM ARN, with its otpauth URI and QR code), and a [Fleet] of
// up to millions of key fobs evaluated at one instant.
//
// Every device is driven by a [hw.TimeSource], so a test steps time with a
// [ManualClock] instead of sleeping:
//
//	clk := emulator.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
//	fob, _ := emulator.NewKeyFob(emulator.Options{Serial: "GAHT00000018", Seed: seed, Time: clk, DriftPPM: 50})
//	r, _ := fob.Press()      // r.Code is what the fob shows
//	clk.Advance(time.Hour)
//
// Devices persist as flash images (package hw's format, kind "otp") in a
// [Home] directory, so the tokenlab CLI and a simulated production line
// share them:
//
//	home, _ := emulator.OpenHome(dir, nil)
//	home.Save(fob.Token)
//	t, _ := home.Load("GAHT00000018")
//
// A token in factory state ([NewFactory]) exposes its factory port
// ([Token.FactoryPort]) for an otpfw.FactoryClient, with defects injected
// through [Options.Faults].
package emulator
