-- SQLite's 0003 makes users and devices WITHOUT ROWID tables so that a
-- lookup walks one B-tree. PostgreSQL's tables are heaps reached through
-- their primary-key index already: nothing to change. This file keeps the
-- two stores' migrations numbered alike.
SELECT 1;
