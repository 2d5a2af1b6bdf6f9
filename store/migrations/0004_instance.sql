-- Many tandem instances may write into one database (PostgreSQL), or be
-- merged into one file (tandem merge): every exchange and every derived
-- count carries the instance that recorded it. '' is a row written before
-- this migration (by the one instance the file then had).
ALTER TABLE exchanges ADD COLUMN instance TEXT NOT NULL DEFAULT '';
-- origin is where a merged exchange came from ("instance/id" in its first
-- database), so that merging the same file twice adds nothing; NULL for an
-- exchange recorded here.
ALTER TABLE exchanges ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX exchanges_origin ON exchanges (origin);
CREATE INDEX exchanges_instance ON exchanges (instance, id);

-- The derived counts gain the instance in their keys: the tables are made
-- again (SQLite cannot change a primary key) and their rows copied.
CREATE TABLE counters_new (
	instance TEXT    NOT NULL DEFAULT '',
	endpoint TEXT    NOT NULL,
	minute   INTEGER NOT NULL, -- unix minutes
	name     TEXT    NOT NULL,
	n        INTEGER NOT NULL,
	PRIMARY KEY (instance, endpoint, minute, name)
) WITHOUT ROWID;
INSERT INTO counters_new (instance, endpoint, minute, name, n) SELECT '', endpoint, minute, name, n FROM counters;
DROP TABLE counters;
ALTER TABLE counters_new RENAME TO counters;

CREATE TABLE fields_new (
	instance          TEXT    NOT NULL DEFAULT '',
	endpoint          TEXT    NOT NULL,
	pattern           TEXT    NOT NULL,
	mismatches        INTEGER NOT NULL DEFAULT 0,
	noise             INTEGER NOT NULL DEFAULT 0,
	example_legacy    TEXT    NOT NULL DEFAULT '',
	example_candidate TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (instance, endpoint, pattern)
) WITHOUT ROWID;
INSERT INTO fields_new (instance, endpoint, pattern, mismatches, noise, example_legacy, example_candidate)
	SELECT '', endpoint, pattern, mismatches, noise, example_legacy, example_candidate FROM fields;
DROP TABLE fields;
ALTER TABLE fields_new RENAME TO fields;

CREATE TABLE noise_stats_new (
	instance TEXT    NOT NULL DEFAULT '',
	endpoint TEXT    NOT NULL,
	pattern  TEXT    NOT NULL,
	n        INTEGER NOT NULL,
	PRIMARY KEY (instance, endpoint, pattern)
) WITHOUT ROWID;
INSERT INTO noise_stats_new (instance, endpoint, pattern, n) SELECT '', endpoint, pattern, n FROM noise_stats;
DROP TABLE noise_stats;
ALTER TABLE noise_stats_new RENAME TO noise_stats;

CREATE TABLE latencies_new (
	instance TEXT    NOT NULL DEFAULT '',
	endpoint TEXT    NOT NULL,
	side     TEXT    NOT NULL,
	bucket   INTEGER NOT NULL,
	n        INTEGER NOT NULL,
	PRIMARY KEY (instance, endpoint, side, bucket)
) WITHOUT ROWID;
INSERT INTO latencies_new (instance, endpoint, side, bucket, n) SELECT '', endpoint, side, bucket, n FROM latencies;
DROP TABLE latencies;
ALTER TABLE latencies_new RENAME TO latencies;
