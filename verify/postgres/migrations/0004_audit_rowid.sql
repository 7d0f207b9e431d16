-- SQLite's 0004 drops AUTOINCREMENT from the audit log's id, which cost a
-- page write per commit there. PostgreSQL's identity column has no such
-- cost: nothing to change. This file keeps the two stores' migrations
-- numbered alike.
SELECT 1;
