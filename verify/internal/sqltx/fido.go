package sqltx

import (
	"context"
	"strings"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// ---- FIDO credentials (verify.FIDOTx)

var _ verify.FIDOTx = (*Tx)(nil)

func (x *Tx) CreateFIDO(ctx context.Context, c *verify.FIDOCredential) error {
	d := &verify.DeviceRecord{Device: verify.Device{ID: c.Device, Kind: verify.KindFIDO, State: verify.StateAssigned,
		User: c.User, EnabledAt: c.CreatedAt, CreatedAt: c.CreatedAt}}
	if err := x.CreateDevice(ctx, d); err != nil {
		return err
	}
	aaguid := c.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	n, err := x.C.Exec(ctx, `INSERT INTO fido_credentials (device, credential_id, name, public_key, sign_count, aaguid, transports, format, flags, last_used)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		c.Device, c.ID, c.Name, c.PublicKey, int64(c.SignCount), aaguid, strings.Join(c.Transports, ","), c.Format, int64(c.Flags), t2i(c.LastUsedAt))
	if err == nil && n == 0 || err != nil && x.D.IsUnique(err) {
		return &verify.Error{Code: verify.ECONFLICT, Message: "This security key is already registered.", IAMCode: "EntityAlreadyExists"}
	}
	return err
}

func (x *Tx) FIDOCredentials(ctx context.Context, user string) ([]*verify.FIDOCredential, error) {
	rows, err := x.C.Query(ctx, `SELECT f.device, d.user_name, f.name, f.credential_id, f.public_key, f.sign_count, f.aaguid,
		f.transports, f.format, f.flags, d.enabled_at, f.last_used
		FROM fido_credentials f JOIN devices d ON d.id = f.device
		WHERE d.user_name = $1 AND d.state = 'assigned' AND d.kind = 'fido' ORDER BY d.enabled_at, f.device`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*verify.FIDOCredential
	for rows.Next() {
		var c verify.FIDOCredential
		var count, flags, created, used int64
		var tr string
		if err := rows.Scan(&c.Device, &c.User, &c.Name, &c.ID, &c.PublicKey, &count, &c.AAGUID, &tr, &c.Format, &flags, &created, &used); err != nil {
			return nil, err
		}
		c.SignCount, c.Flags = uint32(count), uint8(flags)
		c.CreatedAt, c.LastUsedAt = i2t(created), i2t(used)
		if tr != "" {
			c.Transports = strings.Split(tr, ",")
		}
		if len(c.AAGUID) == 0 {
			c.AAGUID = nil
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}

func (x *Tx) AdvanceSignCount(ctx context.Context, device string, old, count uint32, now time.Time) (bool, error) {
	n, err := x.C.Exec(ctx, `UPDATE fido_credentials SET sign_count = $3, last_used = $4 WHERE device = $1 AND sign_count = $2`,
		device, int64(old), int64(count), t2i(now))
	return n == 1, err
}

func (x *Tx) DeleteFIDO(ctx context.Context, device string) error {
	if _, err := x.C.Exec(ctx, `DELETE FROM fido_credentials WHERE device = $1`, device); err != nil {
		return err
	}
	return x.DeleteDevice(ctx, device)
}
