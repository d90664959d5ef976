package outbox

import (
	"database/sql"
	"fmt"
)

// migrations are applied in order; PRAGMA user_version records how many
// ran. Never edit a released migration: append a new one.
var migrations = []string{
	// 1: requests and their event log.
	`CREATE TABLE requests (
		n           INTEGER PRIMARY KEY AUTOINCREMENT, -- arrival order
		id          TEXT NOT NULL UNIQUE,              -- the register's id: the idempotency key
		terminal    TEXT NOT NULL,
		op          TEXT NOT NULL,
		body        BLOB NOT NULL,                     -- canonical command JSON, no card data
		body_hash   TEXT NOT NULL,
		reference   TEXT NOT NULL UNIQUE,              -- ours, sent to the provider
		original_id TEXT NOT NULL DEFAULT '',
		state       TEXT NOT NULL,
		attempts    INTEGER NOT NULL DEFAULT 0,
		maybe_sent  INTEGER NOT NULL DEFAULT 0,        -- 1 once a call may have reached the provider
		deadline    INTEGER NOT NULL DEFAULT 0,        -- unix ms; 0: none
		next_at     INTEGER NOT NULL DEFAULT 0,        -- unix ms: not before
		reason      TEXT NOT NULL DEFAULT '',          -- why the last attempt did not finish
		result      BLOB,                              -- provider result JSON, when final
		created_at  INTEGER NOT NULL,
		updated_at  INTEGER NOT NULL,
		final_at    INTEGER                            -- unix ms; NULL while pending
	);
	CREATE INDEX requests_pending ON requests(terminal, n) WHERE final_at IS NULL;
	CREATE INDEX requests_final ON requests(final_at) WHERE final_at IS NOT NULL;
	CREATE TABLE events (
		seq        INTEGER PRIMARY KEY AUTOINCREMENT,
		request_id TEXT NOT NULL,
		at         INTEGER NOT NULL,
		body       BLOB NOT NULL
	);
	CREATE INDEX events_request ON events(request_id, seq);`,
	// 2: the provider's own id for a request (Paywall PaymentRequestId),
	// stored the moment it arrives so a lost answer is reconciled by it.
	`ALTER TABLE requests ADD COLUMN provider_ref TEXT NOT NULL DEFAULT '';`,
	// 3: a worker asks for its terminal's earliest sale deadline at every
	// step; during an outage thousands of sales wait, and without this
	// index each step scanned them all.
	`CREATE INDEX requests_deadlines ON requests(terminal, deadline)
		WHERE final_at IS NULL AND maybe_sent = 0 AND deadline > 0;`,
	// 4: events are found by their request's arrival number instead of
	// its id. Registers choose ids (often random UUIDs), so every event
	// insert landed on a different page of the old index, and a group
	// commit of 25 accepts wrote 25 more pages to the WAL; arrival
	// numbers grow, so new entries share the index's last pages.
	`ALTER TABLE events ADD COLUMN request_n INTEGER NOT NULL DEFAULT 0;
	UPDATE events SET request_n = COALESCE((SELECT n FROM requests WHERE requests.id = events.request_id), 0);
	DROP INDEX events_request;
	CREATE INDEX events_request_n ON events(request_n, seq);`,
	// 5: ids are scoped per register (issue 16): two registers that both
	// number receipts from 1 send two requests "R1-1". The idempotency
	// key becomes (register, id); SQLite cannot drop the old UNIQUE(id),
	// so the table is rebuilt. Every request stored before belongs to the
	// register "local", which is what a connection that never names
	// itself still is. The AUTOINCREMENT high-water mark is carried over
	// so arrival numbers never go back.
	`CREATE TABLE requests_v5 (
		n            INTEGER PRIMARY KEY AUTOINCREMENT,
		register     TEXT NOT NULL DEFAULT 'local',   -- who sent it: ids are unique per register
		id           TEXT NOT NULL,                   -- the register's id
		terminal     TEXT NOT NULL,
		op           TEXT NOT NULL,
		body         BLOB NOT NULL,
		body_hash    TEXT NOT NULL,
		reference    TEXT NOT NULL UNIQUE,
		original_id  TEXT NOT NULL DEFAULT '',        -- an id of the same register
		state        TEXT NOT NULL,
		attempts     INTEGER NOT NULL DEFAULT 0,
		maybe_sent   INTEGER NOT NULL DEFAULT 0,
		deadline     INTEGER NOT NULL DEFAULT 0,
		next_at      INTEGER NOT NULL DEFAULT 0,
		reason       TEXT NOT NULL DEFAULT '',
		result       BLOB,
		created_at   INTEGER NOT NULL,
		updated_at   INTEGER NOT NULL,
		final_at     INTEGER,
		provider_ref TEXT NOT NULL DEFAULT '',
		UNIQUE(register, id)
	);
	INSERT INTO requests_v5 (n, register, id, terminal, op, body, body_hash, reference, original_id, state,
		attempts, maybe_sent, deadline, next_at, reason, result, created_at, updated_at, final_at, provider_ref)
		SELECT n, 'local', id, terminal, op, body, body_hash, reference, original_id, state,
		attempts, maybe_sent, deadline, next_at, reason, result, created_at, updated_at, final_at, provider_ref
		FROM requests;
	INSERT INTO sqlite_sequence(name, seq) SELECT 'requests_v5', 0
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'requests_v5');
	UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'requests'), 0))
		WHERE name = 'requests_v5';
	DROP TABLE requests;
	ALTER TABLE requests_v5 RENAME TO requests;
	CREATE INDEX requests_pending ON requests(terminal, n) WHERE final_at IS NULL;
	CREATE INDEX requests_final ON requests(final_at) WHERE final_at IS NOT NULL;
	CREATE INDEX requests_deadlines ON requests(terminal, deadline)
		WHERE final_at IS NULL AND maybe_sent = 0 AND deadline > 0;`,
}

// SchemaVersion is the version this build writes.
var SchemaVersion = len(migrations)

func migrate(db *sql.DB) error {
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this build's %d: upgrade tezgah", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := db.Begin()
		if err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.Exec(migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	return nil
}
