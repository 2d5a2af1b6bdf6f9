-- Triage: what a person decided about a stored exchange, or about a
-- pattern of an endpoint (every exchange that differs there): an expected
-- change (accepted), a bug, or not decided yet (open, the default, which is
-- also what a missing row means).
CREATE TABLE exchange_triage (
	exchange_id INTEGER PRIMARY KEY REFERENCES exchanges (id) ON DELETE CASCADE,
	state       TEXT    NOT NULL CHECK (state IN ('open', 'accepted', 'bug')),
	note        TEXT    NOT NULL DEFAULT '',
	updated     INTEGER NOT NULL -- unix nanoseconds
);

CREATE TABLE pattern_triage (
	endpoint TEXT    NOT NULL,
	pattern  TEXT    NOT NULL,
	state    TEXT    NOT NULL CHECK (state IN ('open', 'accepted', 'bug')),
	note     TEXT    NOT NULL DEFAULT '',
	updated  INTEGER NOT NULL, -- unix nanoseconds
	PRIMARY KEY (endpoint, pattern)
) WITHOUT ROWID;
