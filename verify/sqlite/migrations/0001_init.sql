-- Times are Unix nanoseconds (0: none); booleans 0/1; seeds and secrets
-- only sealed (nonce ‖ AES-256-GCM), with the KEK id beside them.
CREATE TABLE users (
	name_key    TEXT PRIMARY KEY,          -- lower(name): IAM names are case-insensitive
	name        TEXT NOT NULL,
	id          TEXT NOT NULL UNIQUE,
	path        TEXT NOT NULL,
	arn         TEXT NOT NULL,
	admin       INTEGER NOT NULL DEFAULT 0,
	require_mfa INTEGER NOT NULL DEFAULT 0,
	password    TEXT NOT NULL DEFAULT '',  -- PHC string, argon2id
	created_at  INTEGER NOT NULL
);

CREATE TABLE devices (
	id           TEXT PRIMARY KEY,         -- serial, MFA ARN or u2f ARN
	kind         TEXT NOT NULL CHECK (kind IN ('hardware', 'virtual', 'fido')),
	state        TEXT NOT NULL CHECK (state IN ('available', 'assigned', 'lost')),
	user_name    TEXT NOT NULL DEFAULT '', -- users.name when assigned
	algorithm    INTEGER NOT NULL DEFAULT 0,
	digits       INTEGER NOT NULL DEFAULT 0,
	period       INTEGER NOT NULL DEFAULT 0, -- seconds
	seed         BLOB NOT NULL,            -- sealed
	key_id       TEXT NOT NULL DEFAULT '',
	enabled_at   INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	drift        INTEGER NOT NULL DEFAULT 0, -- steps
	last_step    INTEGER NOT NULL DEFAULT 0, -- last accepted step; never goes back
	failures     INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	tags         TEXT NOT NULL DEFAULT ''  -- JSON object
);
CREATE INDEX devices_user ON devices (user_name, id);
CREATE INDEX devices_kind_state ON devices (kind, state, id);

CREATE TABLE access_keys (
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
CREATE INDEX access_keys_user ON access_keys (user_name, session);

CREATE TABLE api_tokens (
	name       TEXT PRIMARY KEY,
	hash       BLOB NOT NULL UNIQUE,       -- SHA-256 of the secret
	created_at INTEGER NOT NULL
);

CREATE TABLE audit (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	time      INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	user_name TEXT NOT NULL,
	device    TEXT NOT NULL,
	outcome   TEXT NOT NULL,
	reason    TEXT NOT NULL,
	source    TEXT NOT NULL
);
