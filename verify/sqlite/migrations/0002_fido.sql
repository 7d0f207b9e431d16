-- FIDO credential records (WebAuthn Level 3 §4 "credential record"), one
-- per device row of kind 'fido'; times are Unix nanoseconds (0: none).
CREATE TABLE fido_credentials (
	device        TEXT PRIMARY KEY,          -- devices.id, the u2f ARN
	credential_id BLOB NOT NULL UNIQUE,
	name          TEXT NOT NULL,             -- KEYNAME
	public_key    BLOB NOT NULL,             -- COSE_Key
	sign_count    INTEGER NOT NULL DEFAULT 0, -- never goes back
	aaguid        BLOB NOT NULL,
	transports    TEXT NOT NULL DEFAULT '',  -- comma-separated
	format        TEXT NOT NULL DEFAULT '',  -- attestation statement format
	flags         INTEGER NOT NULL DEFAULT 0,
	last_used     INTEGER NOT NULL DEFAULT 0
);
