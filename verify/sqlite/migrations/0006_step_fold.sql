-- Where a sweep of the step log (sqltx.StepLog) writes the steps it takes
-- out of the log: a narrow table of its own, about 150 rows to a page for
-- serial numbers, instead of the devices rows, about 25 to a page. A
-- sweep in key order then writes a sixth of the pages, each of them
-- faster to find. A device's row gets its step from here only before
-- another write to the row (fold); a row here at or below the row's
-- last_step is one already written into it.
CREATE TABLE step_fold (
	id    TEXT PRIMARY KEY, -- devices.id
	step  INTEGER NOT NULL, -- the last accepted step, if above devices.last_step
	drift INTEGER NOT NULL
) WITHOUT ROWID;

-- Devices as reads see them: a step here above the row's overrides the
-- four columns an accepted code writes (step, drift, no failures, no
-- lock). Every read of a device selects from this view; writes go to
-- devices. A column added to devices must be added here too.
CREATE VIEW device_view AS
SELECT d.id, d.kind, d.state, d.user_name, d.algorithm, d.digits, d.period, d.seed, d.key_id,
	d.enabled_at, d.created_at,
	CASE WHEN f.step > d.last_step THEN f.drift ELSE d.drift END AS drift,
	CASE WHEN f.step > d.last_step THEN f.step ELSE d.last_step END AS last_step,
	CASE WHEN f.step > d.last_step THEN 0 ELSE d.failures END AS failures,
	CASE WHEN f.step > d.last_step THEN 0 ELSE d.locked_until END AS locked_until,
	d.tags
FROM devices AS d LEFT JOIN step_fold AS f ON f.id = d.id;
