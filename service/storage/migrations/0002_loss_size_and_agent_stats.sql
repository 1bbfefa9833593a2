-- LossReport.size_unknown: the node could not tell how many events it lost
-- (possibly none), e.g. it was down longer than conntrack keeps closed
-- connections; `events` is then only what is known to be lost.
ALTER TABLE node_day_losses ADD COLUMN size_unknown boolean NOT NULL DEFAULT false;

-- The latest counters of each node's agent (AgentStats, sent in Hello and
-- periodically), replaced on every report: what ops look at to see whether a
-- node records, overruns, spools or fails to apply rules.
CREATE TABLE node_agent_stats (
  node_id                  text PRIMARY KEY REFERENCES nodes (node_id) ON DELETE CASCADE,
  reported_at              timestamptz NOT NULL DEFAULT now(),
  agent_version            text NOT NULL DEFAULT '',
  conntrack_events         bigint NOT NULL DEFAULT 0,
  reject_events            bigint NOT NULL DEFAULT 0,
  unattributed_events      bigint NOT NULL DEFAULT 0,
  netlink_overruns         bigint NOT NULL DEFAULT 0,
  resyncs                  bigint NOT NULL DEFAULT 0,
  records                  bigint NOT NULL DEFAULT 0,
  batches_sent             bigint NOT NULL DEFAULT 0,
  batches_acked            bigint NOT NULL DEFAULT 0,
  spool_bytes              bigint NOT NULL DEFAULT 0,
  spool_dropped_batches    bigint NOT NULL DEFAULT 0,
  applied_rule_version     bigint NOT NULL DEFAULT 0,
  nft_errors               bigint NOT NULL DEFAULT 0,
  conntrack_events_sysctl  integer NOT NULL DEFAULT -1
);
