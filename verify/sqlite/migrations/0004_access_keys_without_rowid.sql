-- access_keys becomes a WITHOUT ROWID table too: every SigV4 request of the
-- IAM endpoint looks its key up by id.
CREATE TABLE access_keys_new (
	id         TEXT PRIMARY KEY,
	user_name  TEXT NOT NULL,
	status     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	secret     BLOB NOT NULL,
	key_id     TEXT NOT NULL,
	session    INTEGER NOT NULL DEFAULT 0,
	expires    INTEGER NOT NULL DEFAULT 0,
	mfa        INTEGER NOT NULL DEFAULT 0,
	mfa_device TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
INSERT INTO access_keys_new (id, user_name, status, created_at, secret, key_id, session, expires, mfa, mfa_device)
	SELECT id, user_name, status, created_at, secret, key_id, session, expires, mfa, mfa_device FROM access_keys;
DROP TABLE access_keys;
ALTER TABLE access_keys_new RENAME TO access_keys;
CREATE INDEX access_keys_user ON access_keys (user_name, session);
