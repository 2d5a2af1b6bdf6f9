-- Paired counts for per-field verdicts (README, "Verdicts"). Plain SQL
-- that SQLite and PostgreSQL both read: no WITHOUT ROWID, BIGINT counts.
--
-- Per endpoint and pattern, over the exchanges judged with a secondary
-- legacy instance: how many differed there only between legacy and the
-- candidate, only between legacy and the secondary, or in both (the
-- exchanges that differ in neither are pair_totals.paired minus these).
-- And over the exchanges judged without one: how many differed there, and
-- how many of those by removing a value or changing its type. Never
-- pruned, like fields.
CREATE TABLE pattern_pairs (
	instance         TEXT   NOT NULL DEFAULT '',
	endpoint         TEXT   NOT NULL,
	pattern          TEXT   NOT NULL,
	only_candidate   BIGINT NOT NULL DEFAULT 0,
	only_secondary   BIGINT NOT NULL DEFAULT 0,
	both_differ      BIGINT NOT NULL DEFAULT 0,
	unpaired         BIGINT NOT NULL DEFAULT 0,
	unpaired_removed BIGINT NOT NULL DEFAULT 0,
	unpaired_type    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (instance, endpoint, pattern)
);

-- Per endpoint: exchanges compared (match, mismatch or noise) with a
-- secondary that answered (paired) and without one (unpaired).
CREATE TABLE pair_totals (
	instance TEXT   NOT NULL DEFAULT '',
	endpoint TEXT   NOT NULL,
	paired   BIGINT NOT NULL DEFAULT 0,
	unpaired BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (instance, endpoint)
);

-- Both are counters: each row carries the instance that counted it (as
-- 0004 made the other counters do); a report sums the instances in scope.
--
-- The baseline (tandem baseline): how often legacy differs from itself,
-- learned by replaying traffic against legacy alone. Per endpoint, the
-- exchanges compared and where they came from; per pattern, how many
-- differed there, and of those how many with a value present on one side
-- only (added or removed) and with a type change.
CREATE TABLE baseline_endpoints (
	endpoint TEXT    NOT NULL PRIMARY KEY,
	compared BIGINT  NOT NULL,
	runs     INTEGER NOT NULL,
	learned  BIGINT  NOT NULL, -- unix nanoseconds
	source   TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE baseline_patterns (
	endpoint     TEXT   NOT NULL,
	pattern      TEXT   NOT NULL,
	differs      BIGINT NOT NULL,
	presence     BIGINT NOT NULL DEFAULT 0,
	type_changed BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (endpoint, pattern)
);
