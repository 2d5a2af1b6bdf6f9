-- The strangler cutover (README, "Cutover"). Plain SQL that SQLite and
-- PostgreSQL both read.
--
-- Which side's answer the client got for an exchange on an endpoint in
-- cutover: 'legacy' or 'candidate'; '' for shadow-only endpoints (and
-- every exchange stored before this migration).
ALTER TABLE exchanges ADD COLUMN served_by TEXT NOT NULL DEFAULT '';

-- Each endpoint's cutover now: the candidate's share, the step of the plan
-- it is at (-1: not started, shadow only), the state (shadow, serving,
-- paused, rolled_back, done) and the evidence behind the last decision, as
-- JSON, and the plan's steps (JSON list: an operator's promote reads them).
-- One row per endpoint that has a plan or an operator's command.
CREATE TABLE cutover_state (
	endpoint   TEXT             NOT NULL PRIMARY KEY,
	share      DOUBLE PRECISION NOT NULL DEFAULT 0,
	step       INTEGER          NOT NULL DEFAULT -1,
	state      TEXT             NOT NULL DEFAULT 'shadow',
	evidence   TEXT             NOT NULL DEFAULT '{}',
	plan       TEXT             NOT NULL DEFAULT '[]',
	updated_at BIGINT           NOT NULL DEFAULT 0
);

-- Every change of a cutover_state row: when (Unix nanoseconds), by whom
-- (the proxy's controller or an operator), why, and the numbers behind it.
-- Never pruned: it is the audit trail.
CREATE TABLE cutover_events (
	id         INTEGER          PRIMARY KEY,
	ts         BIGINT           NOT NULL,
	endpoint   TEXT             NOT NULL,
	actor      TEXT             NOT NULL,
	action     TEXT             NOT NULL,
	from_state TEXT             NOT NULL,
	to_state   TEXT             NOT NULL,
	from_share DOUBLE PRECISION NOT NULL,
	to_share   DOUBLE PRECISION NOT NULL,
	step       INTEGER          NOT NULL,
	reason     TEXT             NOT NULL,
	evidence   TEXT             NOT NULL DEFAULT '{}'
);
CREATE INDEX cutover_events_endpoint ON cutover_events (endpoint, ts);
