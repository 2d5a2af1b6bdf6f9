-- One row per stored exchange: every mismatch, noise and error, and with
-- --record all every match too. Bodies are stored as received (decoded from
-- their Content-Encoding) after redaction.
CREATE TABLE exchanges (
	id                    INTEGER PRIMARY KEY,
	ts                    INTEGER NOT NULL, -- unix nanoseconds
	endpoint              TEXT    NOT NULL,
	source                TEXT    NOT NULL DEFAULT 'proxy', -- proxy, replay
	method                TEXT    NOT NULL,
	url                   TEXT    NOT NULL,
	host                  TEXT    NOT NULL DEFAULT '',
	req_headers           TEXT    NOT NULL DEFAULT '[]', -- JSON [[name, value], …]
	req_body              BLOB,

	legacy_status         INTEGER NOT NULL DEFAULT 0,
	legacy_headers        TEXT    NOT NULL DEFAULT '[]',
	legacy_body           BLOB,
	legacy_latency_us     INTEGER NOT NULL DEFAULT 0,
	legacy_error          TEXT    NOT NULL DEFAULT '',
	legacy_body_size      INTEGER NOT NULL DEFAULT 0,
	legacy_body_hash      TEXT    NOT NULL DEFAULT '',
	legacy_truncated      INTEGER NOT NULL DEFAULT 0,

	candidate_status      INTEGER NOT NULL DEFAULT 0,
	candidate_headers     TEXT    NOT NULL DEFAULT '[]',
	candidate_body        BLOB,
	candidate_latency_us  INTEGER NOT NULL DEFAULT 0,
	candidate_error       TEXT    NOT NULL DEFAULT '',
	candidate_body_size   INTEGER NOT NULL DEFAULT 0,
	candidate_body_hash   TEXT    NOT NULL DEFAULT '',
	candidate_truncated   INTEGER NOT NULL DEFAULT 0,

	has_secondary         INTEGER NOT NULL DEFAULT 0,
	secondary_status      INTEGER NOT NULL DEFAULT 0,
	secondary_headers     TEXT    NOT NULL DEFAULT '[]',
	secondary_body        BLOB,
	secondary_latency_us  INTEGER NOT NULL DEFAULT 0,
	secondary_error       TEXT    NOT NULL DEFAULT '',
	secondary_body_size   INTEGER NOT NULL DEFAULT 0,
	secondary_body_hash   TEXT    NOT NULL DEFAULT '',
	secondary_truncated   INTEGER NOT NULL DEFAULT 0,

	outcome               TEXT    NOT NULL,
	error                 TEXT    NOT NULL DEFAULT '',
	noise_patterns        TEXT    NOT NULL DEFAULT '[]' -- JSON array
);
CREATE INDEX exchanges_endpoint ON exchanges (endpoint, outcome, id);
CREATE INDEX exchanges_ts ON exchanges (ts);

-- One row per difference of a stored exchange.
CREATE TABLE differences (
	exchange_id INTEGER NOT NULL REFERENCES exchanges (id) ON DELETE CASCADE,
	endpoint    TEXT    NOT NULL,
	path        TEXT    NOT NULL,
	pattern     TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	legacy      TEXT    NOT NULL DEFAULT '',
	candidate   TEXT    NOT NULL DEFAULT '',
	noise       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX differences_endpoint_pattern ON differences (endpoint, pattern);
CREATE INDEX differences_exchange ON differences (exchange_id);

-- Counts of every request by endpoint, minute and outcome, including the
-- matches that are not stored, so that rates are exact. Process-wide counts
-- (requests, dropped, skipped, legacy_error) have endpoint ''. Never pruned.
CREATE TABLE counters (
	endpoint TEXT    NOT NULL,
	minute   INTEGER NOT NULL, -- unix minutes
	name     TEXT    NOT NULL,
	n        INTEGER NOT NULL,
	PRIMARY KEY (endpoint, minute, name)
) WITHOUT ROWID;

-- Per endpoint and pattern: how many exchanges differed there (for real,
-- and as noise), with the latest example. Never pruned.
CREATE TABLE fields (
	endpoint          TEXT    NOT NULL,
	pattern           TEXT    NOT NULL,
	mismatches        INTEGER NOT NULL DEFAULT 0,
	noise             INTEGER NOT NULL DEFAULT 0,
	example_legacy    TEXT    NOT NULL DEFAULT '',
	example_candidate TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (endpoint, pattern)
) WITHOUT ROWID;

-- Per endpoint and pattern: how many exchanges saw the secondary legacy
-- instance disagree with legacy there (what noise detection learns).
CREATE TABLE noise_stats (
	endpoint TEXT    NOT NULL,
	pattern  TEXT    NOT NULL,
	n        INTEGER NOT NULL,
	PRIMARY KEY (endpoint, pattern)
) WITHOUT ROWID;

-- Latency histograms per endpoint and side (legacy, candidate).
CREATE TABLE latencies (
	endpoint TEXT    NOT NULL,
	side     TEXT    NOT NULL,
	bucket   INTEGER NOT NULL,
	n        INTEGER NOT NULL,
	PRIMARY KEY (endpoint, side, bucket)
) WITHOUT ROWID;
