-- Accepted agent batches, durable and acknowledged, waiting to be folded
-- into connection_daily and account_day_totals. One row per group commit:
-- its records merged by key, encoded as an egress.internal.JournalEntry
-- (proto/egress/internal/ingest_journal.proto). The batch's transaction
-- writes this row, its losses and the node's sequence; the journal folder
-- (service/ingest_journal_folder.h) later merges many rows at once and
-- deletes them in the same transaction, so every record is counted once.
-- Why: an acknowledgement then costs one append instead of one index upsert
-- per record, and the fold writes each key once however many batches
-- carried it (see bench/README.md, Ingest).
-- A group writes one row per shard (accounts spread by a hash of their id)
-- it has records of; each shard is folded on its own connection.
CREATE TABLE ingest_journal (
  entry_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  shard        smallint NOT NULL CHECK (shard >= 0),
  records      integer NOT NULL CHECK (records > 0),
  payload      bytea NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT now()
);
-- Already compact protobuf: compressing it would only cost the writer CPU.
ALTER TABLE ingest_journal ALTER COLUMN payload SET STORAGE EXTERNAL;
CREATE INDEX ingest_journal_shard ON ingest_journal (shard, entry_id);
