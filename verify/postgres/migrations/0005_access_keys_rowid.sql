-- SQLite's 0005 undoes its 0004; nothing to change in PostgreSQL. This file
-- keeps the two stores' migrations numbered alike.
SELECT 1;
