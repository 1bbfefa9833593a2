-- Rule versions without a row shared by unrelated writers
-- (service/storage/lock_order.md has the whole design).
--
-- Until now every change of every account bumped nodes.rule_version, so all
-- writers of a node serialised on that one row and took the node and account
-- rows in different orders: concurrent writers deadlocked. From here on:
--  - accounts.rule_version counts the changes of that account alone (bumped
--    under the account's own row lock);
--  - nodes.config_version counts the changes of the node's own settings
--    (server IPs, exempt networks), bumped by UpsertNode alone;
--  - node_rule_departures gets a row when an account leaves a node (deleted
--    or moved elsewhere), so what it contributed stays counted;
--  - the version of a node's rule set is the sum of the three, read in one
--    snapshot. Every component only grows, so the sum never goes back, and
--    it grows whenever anything the node enforces changes.
-- nodes.rule_version is no longer written (kept for old readers).
--
-- All replicas must run this code before it takes effect consistently:
-- upgrade them together (docs/operations.md, "Upgrades").
ALTER TABLE nodes ADD COLUMN config_version bigint NOT NULL DEFAULT 1
  CHECK (config_version > 0);
-- Labels after the upgrade stay >= every label agents applied before it.
UPDATE nodes SET config_version = rule_version;

CREATE TABLE node_rule_departures (
  node_id      text NOT NULL REFERENCES nodes (node_id) ON DELETE CASCADE,
  account_id   text NOT NULL,
  -- The departing account's last version + 1: the node's sum grows.
  version      bigint NOT NULL CHECK (version > 0),
  departed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX node_rule_departures_node ON node_rule_departures (node_id);

-- The account version the account's node last confirmed as applied
-- (RulesApplied of its agent); the account is enforced once
-- version >= accounts.rule_version on the same node. Written only by the
-- stream of that node, one row per account: no row shared between nodes.
CREATE TABLE account_rules_applied (
  account_id  text PRIMARY KEY REFERENCES accounts (account_id) ON DELETE CASCADE,
  node_id     text NOT NULL,
  version     bigint NOT NULL CHECK (version >= 0),
  applied_at  timestamptz NOT NULL DEFAULT now()
);

-- What nodes confirmed before the upgrade, in the new terms.
INSERT INTO account_rules_applied (account_id, node_id, version, applied_at)
SELECT a.account_id, a.node_id, a.rule_version, coalesce(n.applied_at, now())
  FROM accounts a JOIN nodes n ON n.node_id = a.node_id
 WHERE n.applied_rule_version >= a.rule_version;

-- The version of a node's rule set, in the caller's snapshot: the one place
-- the sum is written.
CREATE FUNCTION egress_node_rule_version(node text)
RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT (n.config_version
          + coalesce((SELECT sum(a.rule_version) FROM accounts a WHERE a.node_id = node), 0)
          + coalesce((SELECT sum(d.version) FROM node_rule_departures d
                       WHERE d.node_id = node), 0))::bigint
    FROM nodes n WHERE n.node_id = node
$$;
