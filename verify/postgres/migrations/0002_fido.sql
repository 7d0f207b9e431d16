-- FIDO credential records (WebAuthn Level 3 §4 "credential record"), one
-- per device row of kind 'fido'; times are Unix nanoseconds (0: none).
CREATE TABLE fido_credentials (
	device        TEXT PRIMARY KEY,          -- devices.id, the u2f ARN
	credential_id BYTEA NOT NULL UNIQUE,
	name          TEXT NOT NULL,             -- KEYNAME
	public_key    BYTEA NOT NULL,             -- COSE_Key
	sign_count    BIGINT NOT NULL DEFAULT 0, -- never goes back
	aaguid        BYTEA NOT NULL,
	transports    TEXT NOT NULL DEFAULT '',  -- comma-separated
	format        TEXT NOT NULL DEFAULT '',  -- attestation statement format
	flags         BIGINT NOT NULL DEFAULT 0,
	last_used     BIGINT NOT NULL DEFAULT 0
);
