-- Undoes 0004: access_keys goes back to a rowid table. Every STS session
-- inserts a key under a random id; clustered on that id, each insert
-- dirtied a random leaf page of full rows, so a group commit wrote more
-- WAL pages and CreateSession's throughput fell by about a fifth, more than
-- the lookups gained (BenchmarkGetSessionToken). LookupAccessKey's cache
-- (verify.Config.AccessKeyCacheTTL) takes the reads off the hot path instead.
CREATE TABLE access_keys_old (
	id         TEXT PRIMARY KEY,
	user_name  TEXT NOT NULL,
	status     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	secret     BLOB NOT NULL,              -- sealed secret ‖ session token
	key_id     TEXT NOT NULL,
	session    INTEGER NOT NULL DEFAULT 0,
	expires    INTEGER NOT NULL DEFAULT 0,
	mfa        INTEGER NOT NULL DEFAULT 0,
	mfa_device TEXT NOT NULL DEFAULT ''
);
INSERT INTO access_keys_old (id, user_name, status, created_at, secret, key_id, session, expires, mfa, mfa_device)
	SELECT id, user_name, status, created_at, secret, key_id, session, expires, mfa, mfa_device FROM access_keys;
DROP TABLE access_keys;
ALTER TABLE access_keys_old RENAME TO access_keys;
CREATE INDEX access_keys_user ON access_keys (user_name, session);
