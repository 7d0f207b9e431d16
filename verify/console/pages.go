package console

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

func (c *Console) home(q *req) {
	switch q.ss.stage {
	case stageSignedIn:
		http.Redirect(q.w, q.r, Prefix+"/security-credentials", http.StatusSeeOther)
	case stageMFA:
		http.Redirect(q.w, q.r, Prefix+"/mfa", http.StatusSeeOther)
	default:
		http.Redirect(q.w, q.r, Prefix+"/signin", http.StatusSeeOther)
	}
}

// ---- sign-in

func (c *Console) signinPage(q *req) {
	if q.ss.stage == stageSignedIn {
		http.Redirect(q.w, q.r, Prefix+"/security-credentials", http.StatusSeeOther)
		return
	}
	p := &page{Title: "Sign in"}
	if q.r.URL.Query().Get("expired") != "" && q.ss.flash == "" {
		p.Flash = "Your session expired; sign in again."
	}
	c.render(q, http.StatusOK, "signin", p)
}

func (c *Console) signin(q *req) {
	name := strings.TrimSpace(q.r.PostFormValue("user"))
	pw := q.r.PostFormValue("password")
	now := c.cfg.Now()
	// The audit log's actor of a sign-in is the name typed.
	ctx := verify.WithActor(q.r.Context(), verify.Actor{Name: name, Source: "console"})
	if until := c.throttle.blocked(now, userKey(name), addrKey(q.r)); !until.IsZero() {
		c.audit(ctx, "console-signin", name, "", "refused", "throttled")
		wait := until.Sub(now).Round(time.Second)
		c.signinError(q, http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-in attempts; try again in %s.", wait), name)
		return
	}
	u, err := c.v.CheckPassword(ctx, name, pw)
	if err != nil {
		if verify.CodeOf(err) == verify.EUNAUTHORIZED {
			c.throttle.fail(now, userKey(name), addrKey(q.r))
			c.signinError(q, http.StatusUnauthorized, "Incorrect user name or password.", name)
			return
		}
		c.signinError(q, statusOf(err), message(err), name)
		return
	}
	// A new session id at each privilege change (session fixation).
	old := q.ss
	c.sessions.drop(old.id)
	ns := c.sessions.create(now)
	ns.user, ns.admin, ns.passedAt, ns.stage = u.Name, u.Admin, now, stageMFA
	q.ss = ns // the old session's lock is still held by wrap; ns is ours alone
	c.setCookie(q)
	n, err := c.countDevices(q, u.Name)
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	if n == 0 {
		c.throttle.succeed(userKey(name))
		ns.stage = stageSignedIn
		ns.flash = "You signed in without MFA: assign an MFA device to protect your account."
		c.audit(ctx, "console-signin", u.Name, "", "ok", "no-mfa-device")
		http.Redirect(q.w, q.r, Prefix+"/security-credentials", http.StatusSeeOther)
		return
	}
	http.Redirect(q.w, q.r, Prefix+"/mfa", http.StatusSeeOther)
}

func (c *Console) signinError(q *req, status int, msg, name string) {
	if q.wantsJSON() {
		writeJSON(q.w, status, map[string]string{"error": msg})
		return
	}
	c.render(q, status, "signin", &page{Title: "Sign in", Error: msg, Data: name})
}

func (c *Console) signout(q *req) {
	user := q.ss.user
	if q.ss.pendingVirtual != "" { // an authenticator app never set up
		c.v.DeleteVirtual(q.r.Context(), q.ss.pendingVirtual)
	}
	c.sessions.drop(q.ss.id)
	c.clearCookie(q)
	if user != "" {
		c.audit(q.r.Context(), "console-signout", user, "", "ok", "")
	}
	http.Redirect(q.w, q.r, Prefix+"/signin", http.StatusSeeOther)
}

// ---- MFA at sign-in

// deviceRow is one line of the device tables.
type deviceRow struct {
	ID         string
	Name       string
	Kind       verify.Kind
	KindLabel  string
	CreatedAt  time.Time
	LastUsedAt time.Time
	Detail     string
}

func kindLabel(k verify.Kind) string {
	switch k {
	case verify.KindHardware:
		return "Hardware TOTP token"
	case verify.KindVirtual:
		return "Authenticator app"
	case verify.KindFIDO:
		return "Security key / passkey"
	}
	return string(k)
}

// devices lists user's MFA devices: the verifier's TOTP devices and the
// FIDO credentials.
func (c *Console) devices(q *req, user string) ([]deviceRow, []Credential, error) {
	ctx := q.r.Context()
	devs, _, err := c.v.ListDevices(ctx, user, verify.Page{Max: 1000})
	if err != nil {
		return nil, nil, err
	}
	creds, err := c.fido.FIDOCredentials(ctx, user)
	if err != nil {
		return nil, nil, err
	}
	var rows []deviceRow
	for _, d := range devs {
		if d.Kind == verify.KindFIDO {
			continue // listed from the credentials, with more detail
		}
		name := d.ID
		if i := strings.LastIndexByte(d.ID, '/'); d.Kind == verify.KindVirtual && i >= 0 {
			name = d.ID[i+1:]
		}
		rows = append(rows, deviceRow{ID: d.ID, Name: name, Kind: d.Kind, KindLabel: kindLabel(d.Kind), CreatedAt: d.EnabledAt})
	}
	for _, cr := range creds {
		rows = append(rows, deviceRow{ID: cr.Device, Name: cr.Name, Kind: verify.KindFIDO, KindLabel: kindLabel(verify.KindFIDO),
			CreatedAt: cr.CreatedAt, LastUsedAt: cr.LastUsedAt, Detail: fidoDetail(cr)})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].CreatedAt.Before(rows[j].CreatedAt) })
	return rows, creds, nil
}

func fidoDetail(cr Credential) string {
	s := "AAGUID " + formatAAGUID(cr.AAGUID)
	if cr.Format != "" {
		s += ", attestation " + cr.Format
	}
	if len(cr.Transports) > 0 {
		s += ", " + strings.Join(cr.Transports, "/")
	}
	return s + ", counter " + strconv.FormatUint(uint64(cr.SignCount), 10)
}

func formatAAGUID(b []byte) string {
	if len(b) != 16 {
		return "none"
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (c *Console) countDevices(q *req, user string) (int, error) {
	rows, _, err := c.devices(q, user)
	return len(rows), err
}

type mfaData struct {
	TOTP    []deviceRow
	HasFIDO bool
}

func (c *Console) mfaData(q *req) (*mfaData, error) {
	rows, creds, err := c.devices(q, q.ss.user)
	if err != nil {
		return nil, err
	}
	d := &mfaData{HasFIDO: len(creds) > 0}
	for _, r := range rows {
		if r.Kind != verify.KindFIDO {
			d.TOTP = append(d.TOTP, r)
		}
	}
	return d, nil
}

func (c *Console) mfaPage(q *req) {
	d, err := c.mfaData(q)
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	c.render(q, http.StatusOK, "mfa", &page{Title: "Multi-factor authentication", Data: d})
}

func (c *Console) mfaCode(q *req) {
	ctx := q.r.Context()
	now := c.cfg.Now()
	user := q.ss.user
	d, err := c.mfaData(q)
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	retry := func(status int, msg string) {
		if q.wantsJSON() {
			writeJSON(q.w, status, map[string]string{"error": msg})
			return
		}
		c.render(q, status, "mfa", &page{Title: "Multi-factor authentication", Error: msg, Data: d})
	}
	if until := c.throttle.blocked(now, userKey(user), addrKey(q.r)); !until.IsZero() {
		c.audit(ctx, "console-signin", user, "", "refused", "throttled")
		retry(http.StatusTooManyRequests, fmt.Sprintf("Too many failed attempts; try again in %s.", until.Sub(now).Round(time.Second)))
		return
	}
	device := q.r.PostFormValue("device")
	code := strings.TrimSpace(q.r.PostFormValue("code"))
	if device == "" && len(d.TOTP) == 1 {
		device = d.TOTP[0].ID
	}
	found := false
	for _, r := range d.TOTP {
		found = found || r.ID == device
	}
	if !found {
		retry(http.StatusBadRequest, "Choose one of your MFA devices.")
		return
	}
	dec, err := c.v.Check(ctx, user, device, code)
	if err != nil {
		retry(statusOf(err), message(err))
		return
	}
	if !dec.Accepted {
		c.throttle.fail(now, userKey(user), addrKey(q.r))
		msg := "The MFA code is not valid."
		switch dec.Reason {
		case verify.ReasonReplayed:
			msg = "That MFA code was already used; wait for the next one."
		case verify.ReasonLocked:
			msg = "The MFA device is locked after repeated failures until " + dec.LockedUntil.UTC().Format(time.RFC3339) + "."
		}
		retry(http.StatusForbidden, msg)
		return
	}
	c.signedIn(q, device)
	http.Redirect(q.w, q.r, Prefix+"/security-credentials", http.StatusSeeOther)
}

// signedIn completes sign-in with a second factor on device.
func (c *Console) signedIn(q *req, device string) {
	old := q.ss
	c.sessions.drop(old.id)
	ns := c.sessions.create(c.cfg.Now())
	ns.user, ns.admin, ns.passedAt, ns.stage = old.user, old.admin, old.passedAt, stageSignedIn
	q.ss = ns
	c.setCookie(q)
	c.throttle.succeed(userKey(old.user))
	c.audit(q.r.Context(), "console-signin", old.user, device, "ok", "")
}

// ---- security credentials

type credsData struct {
	Devices []deviceRow
	Count   int
	Max     int
	Full    bool
}

func (c *Console) credentialsPage(q *req) {
	rows, _, err := c.devices(q, q.ss.user)
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	c.render(q, http.StatusOK, "credentials", &page{Title: "Security credentials",
		Data: &credsData{Devices: rows, Count: len(rows), Max: verify.MaxDevicesPerUser, Full: len(rows) >= verify.MaxDevicesPerUser}})
}

func (c *Console) remove(q *req) {
	ctx := q.r.Context()
	device := q.r.PostFormValue("device")
	rows, _, err := c.devices(q, q.ss.user)
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	var row *deviceRow
	for i := range rows {
		if rows[i].ID == device {
			row = &rows[i]
		}
	}
	if row == nil {
		c.fail(q, http.StatusNotFound, "You have no MFA device "+device+".")
		return
	}
	switch row.Kind {
	case verify.KindFIDO:
		err = c.fido.RemoveFIDO(ctx, q.ss.user, device)
		if err == nil {
			c.audit(ctx, "fido-remove", q.ss.user, device, "ok", "")
		}
	case verify.KindVirtual:
		// As a cloud console does: removing an authenticator app deletes it.
		if err = c.v.Deactivate(ctx, q.ss.user, device); err == nil {
			err = c.v.DeleteVirtual(ctx, device)
		}
	default: // a hardware token goes back to the inventory
		err = c.v.Deactivate(ctx, q.ss.user, device)
	}
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	q.ss.flash = "Removed " + row.Name + "."
	http.Redirect(q.w, q.r, Prefix+"/security-credentials", http.StatusSeeOther)
}

// ---- resync

type resyncData struct {
	Device deviceRow
}

// ownTOTP finds one of the user's TOTP devices.
func (c *Console) ownTOTP(q *req, device string) (*deviceRow, error) {
	rows, _, err := c.devices(q, q.ss.user)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if rows[i].ID == device && rows[i].Kind != verify.KindFIDO {
			return &rows[i], nil
		}
	}
	return nil, &verify.Error{Code: verify.ENOTFOUND, Message: "You have no TOTP device " + device + " (security keys never need a resync)."}
}

func (c *Console) resyncPage(q *req) {
	row, err := c.ownTOTP(q, q.r.URL.Query().Get("device"))
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	c.render(q, http.StatusOK, "resync", &page{Title: "Resync MFA device", Data: &resyncData{Device: *row}})
}

func (c *Console) resync(q *req) {
	row, err := c.ownTOTP(q, q.r.PostFormValue("device"))
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	code1, code2 := strings.TrimSpace(q.r.PostFormValue("code1")), strings.TrimSpace(q.r.PostFormValue("code2"))
	if err := c.v.Resync(q.r.Context(), q.ss.user, row.ID, code1, code2); err != nil {
		c.render(q, statusOf(err), "resync", &page{Title: "Resync MFA device", Error: enableMessage(err), Data: &resyncData{Device: *row}})
		return
	}
	q.ss.flash = row.Name + " is resynchronized."
	http.Redirect(q.w, q.r, Prefix+"/security-credentials", http.StatusSeeOther)
}

// ---- assign MFA device

type assignData struct {
	Choice string
	Name   string
	Count  int
	Max    int
}

func (c *Console) assignPage(q *req) {
	n, err := c.countDevices(q, q.ss.user)
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	p := &page{Title: "Assign MFA device", Data: &assignData{Choice: "fido", Count: n, Max: verify.MaxDevicesPerUser}}
	if n >= verify.MaxDevicesPerUser {
		p.Error = limitMessage
	}
	c.render(q, http.StatusOK, "assign", p)
}

const limitMessage = "Cannot exceed quota for MFADevicesPerUser: 8. Remove a device before you assign another."

func (c *Console) assignChoose(q *req) {
	choice := q.r.PostFormValue("choice")
	name := strings.TrimSpace(q.r.PostFormValue("name"))
	n, err := c.countDevices(q, q.ss.user)
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	again := func(status int, msg string) {
		c.render(q, status, "assign", &page{Title: "Assign MFA device", Error: msg, Data: &assignData{Choice: choice, Name: name, Count: n, Max: verify.MaxDevicesPerUser}})
	}
	if n >= verify.MaxDevicesPerUser {
		c.audit(q.r.Context(), "console-assign", q.ss.user, "", "refused", string(verify.ELIMIT))
		again(http.StatusConflict, limitMessage)
		return
	}
	switch choice {
	case "fido":
		if err := ValidKeyName(name); err != nil {
			again(http.StatusBadRequest, message(err))
			return
		}
		http.Redirect(q.w, q.r, Prefix+"/mfa/assign/fido?name="+name, http.StatusSeeOther)
	case "virtual":
		if err := ValidKeyName(name); err != nil {
			again(http.StatusBadRequest, message(err))
			return
		}
		ctx := q.r.Context()
		if q.ss.pendingVirtual != "" { // an abandoned one
			c.v.DeleteVirtual(ctx, q.ss.pendingVirtual)
			q.ss.pendingVirtual, q.ss.pendingURI = "", ""
		}
		vd, err := c.v.CreateVirtual(ctx, name, "/", nil)
		if verify.CodeOf(err) == verify.ECONFLICT {
			again(http.StatusConflict, "An MFA device named "+name+" already exists in this account; choose another name.")
			return
		}
		if err != nil {
			again(statusOf(err), message(err))
			return
		}
		vd.Seed.Wipe()
		q.ss.pendingVirtual, q.ss.pendingURI = vd.ID, vd.URI
		http.Redirect(q.w, q.r, Prefix+"/mfa/assign/virtual", http.StatusSeeOther)
	case "hardware":
		http.Redirect(q.w, q.r, Prefix+"/mfa/assign/hardware", http.StatusSeeOther)
	default:
		again(http.StatusBadRequest, "Choose a kind of MFA device.")
	}
}

func (c *Console) assignFIDOPage(q *req) {
	name := q.r.URL.Query().Get("name")
	p := &page{Title: "Set up a security key or passkey", Data: name}
	if err := ValidKeyName(name); err != nil {
		p.Error = message(err)
	}
	c.render(q, http.StatusOK, "assign_fido", p)
}

type virtualData struct {
	ARN    string
	Name   string
	Secret string
}

func (c *Console) assignVirtualPage(q *req) {
	if q.ss.pendingVirtual == "" {
		http.Redirect(q.w, q.r, Prefix+"/mfa/assign", http.StatusSeeOther)
		return
	}
	c.renderVirtual(q, http.StatusOK, "")
}

func (c *Console) renderVirtual(q *req, status int, msg string) {
	arn := q.ss.pendingVirtual
	secret := ""
	if i := strings.Index(q.ss.pendingURI, "secret="); i >= 0 {
		secret = q.ss.pendingURI[i+len("secret="):]
		if j := strings.IndexByte(secret, '&'); j >= 0 {
			secret = secret[:j]
		}
	}
	c.render(q, status, "assign_virtual", &page{Title: "Set up an authenticator app", Error: msg,
		Data: &virtualData{ARN: arn, Name: arn[strings.LastIndexByte(arn, '/')+1:], Secret: secret}})
}

func (c *Console) qrPNG(q *req) {
	if q.ss.pendingURI == "" {
		http.NotFound(q.w, q.r)
		return
	}
	b, err := httpapi.QRPNG(q.ss.pendingURI)
	if err != nil {
		c.fail(q, http.StatusInternalServerError, "could not draw the QR code")
		return
	}
	q.w.Header().Set("Content-Type", "image/png")
	q.w.Write(b)
}

func (c *Console) assignVirtual(q *req) {
	if q.ss.pendingVirtual == "" {
		http.Redirect(q.w, q.r, Prefix+"/mfa/assign", http.StatusSeeOther)
		return
	}
	ctx := q.r.Context()
	code1, code2 := strings.TrimSpace(q.r.PostFormValue("code1")), strings.TrimSpace(q.r.PostFormValue("code2"))
	if err := c.v.Enable(ctx, q.ss.user, q.ss.pendingVirtual, code1, code2); err != nil {
		c.renderVirtual(q, statusOf(err), enableMessage(err))
		return
	}
	name := q.ss.pendingVirtual[strings.LastIndexByte(q.ss.pendingVirtual, '/')+1:]
	q.ss.pendingVirtual, q.ss.pendingURI = "", ""
	q.ss.flash = "Authenticator app " + name + " is assigned."
	http.Redirect(q.w, q.r, Prefix+"/security-credentials", http.StatusSeeOther)
}

func enableMessage(err error) string {
	if verify.CodeOf(err) == verify.ECODE {
		return "The two codes are not valid consecutive codes of this device; wait for a new code and type two codes in a row."
	}
	if verify.CodeOf(err) == verify.ELIMIT {
		return limitMessage
	}
	return message(err)
}

type hardwareData struct {
	Serial    string
	Available []verify.Device
}

func (c *Console) assignHardwarePage(q *req) {
	c.renderHardware(q, http.StatusOK, "", "")
}

func (c *Console) renderHardware(q *req, status int, serial, msg string) {
	d := &hardwareData{Serial: serial}
	if q.ss.admin { // administrators see what is in stock
		d.Available, _, _ = c.v.ListInventory(q.r.Context(), verify.StateAvailable, verify.Page{Max: 50})
	}
	c.render(q, status, "assign_hardware", &page{Title: "Set up a hardware TOTP token", Error: msg, Data: d})
}

func (c *Console) assignHardware(q *req) {
	ctx := q.r.Context()
	serial := strings.TrimSpace(q.r.PostFormValue("serial"))
	code1, code2 := strings.TrimSpace(q.r.PostFormValue("code1")), strings.TrimSpace(q.r.PostFormValue("code2"))
	d, err := c.v.GetDevice(ctx, serial)
	switch {
	case err == nil && d.Kind != verify.KindHardware:
		err = &verify.Error{Code: verify.EINVALID, Message: serial + " is not a hardware token serial number."}
	case verify.CodeOf(err) == verify.ENOTFOUND:
		err = &verify.Error{Code: verify.ENOTFOUND, Message: "There is no hardware token with serial number " + serial + " in the inventory."}
	}
	if err == nil {
		err = c.v.Enable(ctx, q.ss.user, serial, code1, code2)
	}
	if err != nil {
		c.renderHardware(q, statusOf(err), serial, enableMessage(err))
		return
	}
	q.ss.flash = "Hardware token " + serial + " is assigned."
	http.Redirect(q.w, q.r, Prefix+"/security-credentials", http.StatusSeeOther)
}

// ---- administrator views

type usersData struct {
	Users []userRow
	Next  string
}

type userRow struct {
	verify.User
	Devices int
}

func (c *Console) adminUsers(q *req) {
	ctx := q.r.Context()
	users, next, err := c.v.ListUsers(ctx, "", verify.Page{Marker: q.r.URL.Query().Get("marker")})
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	d := &usersData{Next: next}
	for _, u := range users {
		n, _ := c.countDevices(q, u.Name)
		d.Users = append(d.Users, userRow{User: u, Devices: n})
	}
	c.render(q, http.StatusOK, "admin_users", &page{Title: "Users", Data: d})
}

type inventoryData struct {
	State   string
	Devices []verify.Device
	Next    string
}

func (c *Console) adminInventory(q *req) {
	st := verify.State(q.r.URL.Query().Get("state"))
	devs, next, err := c.v.ListInventory(q.r.Context(), st, verify.Page{Marker: q.r.URL.Query().Get("marker")})
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	c.render(q, http.StatusOK, "admin_inventory", &page{Title: "Token inventory", Data: &inventoryData{State: string(st), Devices: devs, Next: next}})
}

type userData struct {
	User    verify.User
	Devices []verify.Device
	Creds   map[string]Credential
}

// adminUser shows one user's devices, with Report lost and Unlock.
func (c *Console) adminUser(q *req) {
	ctx := q.r.Context()
	u, err := c.v.GetUser(ctx, q.r.PathValue("name"))
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	devs, _, err := c.v.ListDevices(ctx, u.Name, verify.Page{Max: 1000})
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	creds, err := c.fido.FIDOCredentials(ctx, u.Name)
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	d := &userData{User: u, Devices: devs, Creds: map[string]Credential{}}
	for _, cr := range creds {
		d.Creds[cr.Device] = cr
		if _, mem := c.fido.(*MemoryFIDO); mem { // not among the verifier's devices
			d.Devices = append(d.Devices, verify.Device{ID: cr.Device, Kind: verify.KindFIDO, State: verify.StateAssigned, User: u.Name, EnabledAt: cr.CreatedAt})
		}
	}
	c.render(q, http.StatusOK, "admin_user", &page{Title: "User " + u.Name, Data: d})
}

// back returns to the administrator's page the form came from.
func back(q *req, fallback string) string {
	if b := q.r.PostFormValue("back"); strings.HasPrefix(b, Prefix+"/admin/") && !strings.ContainsAny(b, "\\\r\n") {
		return b
	}
	return fallback
}

func (c *Console) adminLost(q *req) {
	device := q.r.PostFormValue("device")
	from, err := c.v.MarkLost(q.r.Context(), device)
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	q.ss.flash = device + " is reported lost and can never be enabled again."
	if len(from) > 0 {
		q.ss.flash += " Detached from " + strings.Join(from, ", ") + "."
	}
	http.Redirect(q.w, q.r, back(q, Prefix+"/admin/inventory"), http.StatusSeeOther)
}

func (c *Console) adminUnlock(q *req) {
	device := q.r.PostFormValue("device")
	if err := c.v.Unlock(q.r.Context(), device); err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	q.ss.flash = device + " is unlocked."
	http.Redirect(q.w, q.r, back(q, Prefix+"/admin/inventory"), http.StatusSeeOther)
}

type auditData struct {
	Filter verify.AuditFilter
	Events []verify.AuditEvent
}

func (c *Console) adminAudit(q *req) {
	v := q.r.URL.Query()
	f := verify.AuditFilter{User: v.Get("user"), Device: v.Get("device"), Action: v.Get("action"), Limit: 200}
	evs, err := c.v.Audit(q.r.Context(), f)
	if err != nil {
		c.fail(q, statusOf(err), message(err))
		return
	}
	// Newest first.
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].ID > evs[j].ID })
	c.render(q, http.StatusOK, "admin_audit", &page{Title: "Audit log", Data: &auditData{Filter: f, Events: evs}})
}
