-- users and devices become WITHOUT ROWID tables, clustered on their
-- primary key: a lookup by name or id walks one B-tree instead of the
-- key's index and then the table. The check path reads both on every
-- check, on connections whose page cache starts over after each commit.
CREATE TABLE users_new (
	name_key    TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	id          TEXT NOT NULL UNIQUE,
	path        TEXT NOT NULL,
	arn         TEXT NOT NULL,
	admin       INTEGER NOT NULL DEFAULT 0,
	require_mfa INTEGER NOT NULL DEFAULT 0,
	password    TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO users_new (name_key, name, id, path, arn, admin, require_mfa, password, created_at)
	SELECT name_key, name, id, path, arn, admin, require_mfa, password, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

CREATE TABLE devices_new (
	id           TEXT PRIMARY KEY,
	kind         TEXT NOT NULL CHECK (kind IN ('hardware', 'virtual', 'fido')),
	state        TEXT NOT NULL CHECK (state IN ('available', 'assigned', 'lost')),
	user_name    TEXT NOT NULL DEFAULT '',
	algorithm    INTEGER NOT NULL DEFAULT 0,
	digits       INTEGER NOT NULL DEFAULT 0,
	period       INTEGER NOT NULL DEFAULT 0,
	seed         BLOB NOT NULL,
	key_id       TEXT NOT NULL DEFAULT '',
	enabled_at   INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	drift        INTEGER NOT NULL DEFAULT 0,
	last_step    INTEGER NOT NULL DEFAULT 0,
	failures     INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	tags         TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
INSERT INTO devices_new (id, kind, state, user_name, algorithm, digits, period, seed, key_id, enabled_at, created_at, drift, last_step, failures, locked_until, tags)
	SELECT id, kind, state, user_name, algorithm, digits, period, seed, key_id, enabled_at, created_at, drift, last_step, failures, locked_until, tags FROM devices;
DROP TABLE devices;
ALTER TABLE devices_new RENAME TO devices;
CREATE INDEX devices_user ON devices (user_name, id);
CREATE INDEX devices_kind_state ON devices (kind, state, id);
