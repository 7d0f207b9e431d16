-- The audit log's id is a plain INTEGER PRIMARY KEY, without AUTOINCREMENT:
-- AUTOINCREMENT keeps the largest id in sqlite_sequence, one more page
-- written (and fsynced) by every group commit. Events are never deleted,
-- so the next id is still one more than the largest, and ids still only
-- grow.
CREATE TABLE audit_new (
	id        INTEGER PRIMARY KEY,
	time      INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	user_name TEXT NOT NULL,
	device    TEXT NOT NULL,
	outcome   TEXT NOT NULL,
	reason    TEXT NOT NULL,
	source    TEXT NOT NULL
);
INSERT INTO audit_new (id, time, actor, action, user_name, device, outcome, reason, source)
	SELECT id, time, actor, action, user_name, device, outcome, reason, source FROM audit;
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
DELETE FROM sqlite_sequence WHERE name = 'audit';
