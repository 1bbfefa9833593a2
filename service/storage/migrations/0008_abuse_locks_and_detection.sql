-- Abuse desk, part 2: the abuse lock, detection policies and incidents.
--
-- * account_locks kind 3 (abuse): set by the abuse detector or support,
--   lifted by support with a note or when it expires. `ports` empty: it
--   blocks everything (like the manual lock); otherwise only those
--   destination ports (TCP and UDP, every address). `expires_at` NULL: until
--   support lifts it. Written under the account's row lock (lock_order.md
--   step 3), like the other kinds.
-- * abuse_policies: the thresholds the detector applies. One default row
--   (scope 0) holds every setting; node (1) and account (2) rows override
--   only the settings they set (NULL: inherited). Overrides go with their
--   node or account.
-- * abuse_incidents: one open incident per (account, kind) at most (the
--   partial unique index is the de-duplication across restarts and
--   replicas). The detector reports a condition again while it lasts
--   (last_seen_at); the sweeper closes an incident once it has not been seen
--   for a window ('quiet'), and lifting the abuse lock closes the account's
--   incidents ('lifted'), after which the account gets one window of grace
--   (the old events are still in the window).

ALTER TABLE account_locks DROP CONSTRAINT account_locks_kind_check;
ALTER TABLE account_locks ADD CONSTRAINT account_locks_kind_check CHECK (kind IN (1, 2, 3));
ALTER TABLE account_locks ADD COLUMN ports integer[] NOT NULL DEFAULT '{}'
  CHECK (kind = 3 OR cardinality(ports) = 0);
ALTER TABLE account_locks ADD COLUMN expires_at timestamptz CHECK (kind = 3 OR expires_at IS NULL);
-- The sweeper looks for abuse locks that ran out.
CREATE INDEX account_locks_expiring ON account_locks (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE abuse_policies (
  scope                   smallint NOT NULL CHECK (scope IN (0, 1, 2)),
  node_id                 text REFERENCES nodes (node_id) ON DELETE CASCADE,
  account_id              text REFERENCES accounts (account_id) ON DELETE CASCADE,
  enabled                 boolean,
  smtp_max_connections    integer CHECK (smtp_max_connections > 0),
  scan_max_destinations   integer CHECK (scan_max_destinations > 0),
  reject_max              integer CHECK (reject_max > 0),
  watched_ports           integer[],
  mail_server_uids        bigint[],
  -- 0 alert only, 1 lock everything, 2 lock the offending port(s).
  lock_action             smallint CHECK (lock_action IN (0, 1, 2)),
  -- 0: until support lifts it.
  lock_minutes            integer CHECK (lock_minutes >= 0),
  -- Default scope only: where incidents are POSTed ('' for nowhere).
  webhook_url             text,
  updated_at              timestamptz NOT NULL DEFAULT now(),
  updated_by              text NOT NULL,
  CHECK ((scope = 0 AND node_id IS NULL AND account_id IS NULL)
      OR (scope = 1 AND node_id IS NOT NULL AND account_id IS NULL)
      OR (scope = 2 AND node_id IS NULL AND account_id IS NOT NULL))
);
CREATE UNIQUE INDEX abuse_policies_scope
  ON abuse_policies (scope, coalesce(node_id, ''), coalesce(account_id, ''));

CREATE TABLE abuse_incidents (
  incident_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id   text NOT NULL,
  node_id      text NOT NULL,
  kind         text NOT NULL,
  detail       text NOT NULL,
  ports        integer[] NOT NULL DEFAULT '{}',
  opened_at    timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  closed_at    timestamptz,
  closed_why   text NOT NULL DEFAULT '' CHECK (closed_why IN ('', 'quiet', 'lifted')),
  -- The lock it set: 'all', 'port' or '' (alert only).
  lock         text NOT NULL DEFAULT '',
  -- When the webhook receiver acknowledged it (or nothing was to be sent);
  -- NULL: still to deliver, by whichever replica's sweeper finds it.
  notified_at  timestamptz
);
CREATE INDEX abuse_incidents_unnotified ON abuse_incidents (opened_at) WHERE notified_at IS NULL;
CREATE INDEX abuse_incidents_account ON abuse_incidents (account_id, incident_id);
CREATE UNIQUE INDEX abuse_incidents_open ON abuse_incidents (account_id, kind)
  WHERE closed_at IS NULL;
