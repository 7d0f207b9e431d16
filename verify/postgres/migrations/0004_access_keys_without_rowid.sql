-- SQLite's 0004 makes access_keys a WITHOUT ROWID table; nothing to change
-- in PostgreSQL. This file keeps the two stores' migrations numbered alike.
SELECT 1;
