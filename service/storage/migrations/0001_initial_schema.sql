-- egress schema v1: the whole design in one migration.
-- Conventions: every table that grows with accounts is keyed by account_id
-- first, so it can be distributed by account on Citus and every hot query
-- stays on one shard. Enumerations are smallint codes documented beside the
-- column; timestamps are timestamptz (UTC on the wire).

-- Hosting servers that run an agent.
CREATE TABLE nodes (
  node_id               text PRIMARY KEY,
  server_ipv4           inet CHECK (server_ipv4 IS NULL OR family(server_ipv4) = 4),
  server_ipv6           inet CHECK (server_ipv6 IS NULL OR family(server_ipv6) = 6),
  exempt_networks       cidr[] NOT NULL DEFAULT '{}',
  -- Version of the node's rule set: bumped by every change to its accounts,
  -- rules, locks or exempt networks, in the same transaction as the change.
  rule_version          bigint NOT NULL DEFAULT 1 CHECK (rule_version > 0),
  -- What the node's agent last reported as applied.
  applied_rule_version  bigint NOT NULL DEFAULT 0,
  applied_at            timestamptz,
  apply_error           text NOT NULL DEFAULT '',
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Exactly-once ingest: the highest batch sequence committed per node, written
-- in the same transaction as the batch's aggregates.
CREATE TABLE ingest_sequences (
  node_id       text PRIMARY KEY REFERENCES nodes (node_id) ON DELETE CASCADE,
  last_seq      bigint NOT NULL CHECK (last_seq >= 0),
  committed_at  timestamptz NOT NULL DEFAULT now()
);

-- Hosting accounts: one Linux user on one node.
CREATE TABLE accounts (
  account_id    text PRIMARY KEY,
  node_id       text NOT NULL REFERENCES nodes (node_id) ON DELETE RESTRICT,
  uid           bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967294),
  -- The node rule version at which this account's rules last changed; the
  -- account is enforced once nodes.applied_rule_version >= rule_version.
  rule_version  bigint NOT NULL DEFAULT 1,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT accounts_node_uid_unique UNIQUE (node_id, uid)
);

-- Dedicated IPs: the first ordered of each family is the egress address.
CREATE TABLE dedicated_ips (
  account_id  text NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
  ip          inet NOT NULL CHECK (masklen(ip) = CASE family(ip) WHEN 4 THEN 32 ELSE 128 END),
  ordered_at  timestamptz NOT NULL,
  PRIMARY KEY (account_id, ip),
  CONSTRAINT dedicated_ips_ip_unique UNIQUE (ip)
);

-- Daily aggregates of outgoing connections, partitioned by month for
-- retention (old months are dropped, never deleted row by row; monthly rather
-- than daily keeps multi-day plans cheap). protocol: IANA number (6 tcp,
-- 17 udp, 1 icmp, 58 icmpv6); port 0 for ICMP; action: 1 ACCEPT, 2 REJECT.
-- No index on count/first_seen/last_seen: it would cost writes and HOT updates.
CREATE TABLE connection_daily (
  account_id  text NOT NULL,
  day         date NOT NULL,
  ip          inet NOT NULL,
  protocol    smallint NOT NULL CHECK (protocol IN (1, 6, 17, 58)),
  port        integer NOT NULL CHECK (port BETWEEN 0 AND 65535),
  action      smallint NOT NULL CHECK (action IN (1, 2)),
  count       bigint NOT NULL CHECK (count > 0),
  first_seen  timestamptz NOT NULL,
  last_seen   timestamptz NOT NULL,
  PRIMARY KEY (account_id, day, ip, protocol, port, action)
) PARTITION BY RANGE (day);

-- Per account and day totals, kept in the same transaction as
-- connection_daily: serves "dates with data" and the per-day graph without
-- touching the big table.
CREATE TABLE account_day_totals (
  account_id  text NOT NULL,
  day         date NOT NULL,
  accepted    bigint NOT NULL DEFAULT 0 CHECK (accepted >= 0),
  rejected    bigint NOT NULL DEFAULT 0 CHECK (rejected >= 0),
  PRIMARY KEY (account_id, day)
) WITH (fillfactor = 70);

-- Events a node reported lost (netlink overrun, spool overflow, ...): the
-- day's counts of its accounts are a lower bound. reason: LossReport.Reason.
CREATE TABLE node_day_losses (
  node_id  text NOT NULL REFERENCES nodes (node_id) ON DELETE CASCADE,
  day      date NOT NULL,
  reason   smallint NOT NULL CHECK (reason > 0),
  events   bigint NOT NULL CHECK (events >= 0),
  PRIMARY KEY (node_id, day, reason)
);

-- PTR and owner of every destination IP, looked up once and cached.
-- status: 1 pending, 2 ok, 3 no PTR, 4 temporary failure (IpInfo.Status).
CREATE TABLE ip_info (
  ip             inet PRIMARY KEY,
  status         smallint NOT NULL DEFAULT 1,
  ptr            text NOT NULL DEFAULT '',
  ptr_confirmed  boolean NOT NULL DEFAULT false,
  asn            bigint NOT NULL DEFAULT 0,
  as_name        text NOT NULL DEFAULT '',
  country        text NOT NULL DEFAULT '',
  network        cidr,
  looked_up_at   timestamptz,
  expires_at     timestamptz,
  attempts       integer NOT NULL DEFAULT 0
);
CREATE INDEX ip_info_due ON ip_info (expires_at NULLS FIRST);

-- Block rules. protocol: 0 any, 6 tcp, 17 udp; port 0 = any.
CREATE TABLE block_rules (
  account_id  text NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
  rule_id     bigint GENERATED ALWAYS AS IDENTITY,
  network     cidr NOT NULL,
  protocol    smallint NOT NULL CHECK (protocol IN (0, 6, 17)),
  port        integer NOT NULL CHECK (port BETWEEN 0 AND 65535),
  note        text NOT NULL DEFAULT '' CHECK (char_length(note) <= 1000),
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, rule_id),
  CONSTRAINT block_rules_destination_unique UNIQUE (account_id, network, protocol, port)
);

-- Locks that block all outgoing connections of an account.
-- kind: 1 manual (owner), 2 antivirus.
CREATE TABLE account_locks (
  account_id    text NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
  kind          smallint NOT NULL CHECK (kind IN (1, 2)),
  reason        text NOT NULL,
  since         timestamptz NOT NULL DEFAULT now(),
  set_by        text NOT NULL,
  scan_id       text NOT NULL DEFAULT '',
  threat_count  integer NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, kind)
);

-- Every antivirus scan reported, so out-of-order and repeated reports are
-- recognised (only the newest finished scan decides the lock).
CREATE TABLE antivirus_scans (
  account_id    text NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
  scan_id       text NOT NULL,
  finished_at   timestamptz NOT NULL,
  threat_count  integer NOT NULL,
  threats       jsonb NOT NULL DEFAULT '[]',
  reported_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, scan_id)
);
CREATE INDEX antivirus_scans_newest ON antivirus_scans (account_id, finished_at DESC);

-- Who changed which rule or lock, when, from what to what.
CREATE TABLE audit_log (
  account_id  text NOT NULL,
  event_id    bigint GENERATED ALWAYS AS IDENTITY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  action      text NOT NULL,
  before      jsonb,
  after       jsonb,
  PRIMARY KEY (account_id, event_id)
);

-- Creates the monthly partitions of connection_daily covering
-- [from_month, from_month + months). Idempotent; identifiers are generated
-- from dates only. Called by the service at start and daily.
CREATE FUNCTION egress_ensure_partitions(from_month date, months integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  start_day date := date_trunc('month', from_month)::date;
  created integer := 0;
  part text;
BEGIN
  FOR i IN 0 .. months - 1 LOOP
    part := format('connection_daily_%s', to_char(start_day, 'YYYYMM'));
    IF to_regclass(part) IS NULL THEN
      EXECUTE format(
        'CREATE TABLE %I PARTITION OF connection_daily FOR VALUES FROM (%L) TO (%L) '
        'WITH (fillfactor = 50)',
        part, start_day, (start_day + interval '1 month')::date);
      created := created + 1;
    END IF;
    start_day := (start_day + interval '1 month')::date;
  END LOOP;
  RETURN created;
END $$;

-- Drops the partitions of connection_daily whose whole month ends before
-- keep_from, and the matching summary rows. Returns the partitions dropped.
CREATE FUNCTION egress_drop_partitions_before(keep_from date)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  dropped integer := 0;
  part record;
BEGIN
  FOR part IN
    SELECT c.relname
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'connection_daily'::regclass
       AND c.relname ~ '^connection_daily_[0-9]{6}$'
       AND (to_date(substr(c.relname, 18), 'YYYYMM') + interval '1 month')::date <= keep_from
  LOOP
    EXECUTE format('DROP TABLE %I', part.relname);
    dropped := dropped + 1;
  END LOOP;
  DELETE FROM account_day_totals WHERE day < date_trunc('month', keep_from)::date;
  DELETE FROM node_day_losses WHERE day < date_trunc('month', keep_from)::date;
  RETURN dropped;
END $$;
