-- The log of accepted steps (see sqltx.StepLog): a check appends a row
-- here instead of updating its device's row, and a sweep later writes the
-- steps into devices in key order. Rows go in seq order; nothing looks a
-- row up by device but a peer process and a deletion, which scan it.
CREATE TABLE step_log (
	seq    INTEGER PRIMARY KEY,
	device TEXT NOT NULL,   -- devices.id
	step   INTEGER NOT NULL, -- the accepted step, devices.last_step to be
	drift  INTEGER NOT NULL  -- devices.drift to be
);
