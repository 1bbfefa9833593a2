-- Abuse desk: "who connected to D, from which of our addresses".
--
-- A remote reports an attack from our address S on day X. The source address
-- an account used is its first-ordered dedicated IP of the family, else its
-- node's server address; both change over time (IPs are ordered and
-- released, accounts move between nodes, servers get new addresses), so
-- their history is kept for the whole retention:
--
-- * egress_node_address_log: the server address of each node and family,
--   from when to when. Written only while the node's row is being written
--   (lock order step 1: the writer holds that row).
-- * egress_account_address_log: the node of each account and its dedicated
--   egress address of each family (NULL: the node's address), from when to
--   when. Written only while the account's row or its dedicated IPs are being
--   written (steps 2-3: the writer holds the account's row).
--
-- Triggers keep both, so no write path can forget them. A row's interval is
-- [valid_from, valid_until), valid_until NULL while current. Changes within
-- one transaction update that transaction's row in place (now() is the
-- transaction's start), so intervals are never empty.
--
-- Rows that existed before this migration start at -infinity: the best
-- knowledge of the past is the present.

CREATE TABLE egress_node_address_log (
  node_id      text NOT NULL,
  family       smallint NOT NULL CHECK (family IN (4, 6)),
  address      inet,
  valid_from   timestamptz NOT NULL,
  valid_until  timestamptz,
  PRIMARY KEY (node_id, family, valid_from)
);

CREATE TABLE egress_account_address_log (
  account_id   text NOT NULL,
  incarnation  bigint NOT NULL,
  family       smallint NOT NULL CHECK (family IN (4, 6)),
  node_id      text NOT NULL,
  -- The dedicated egress address; NULL: the node's server address.
  address      inet,
  valid_from   timestamptz NOT NULL,
  valid_until  timestamptz,
  PRIMARY KEY (account_id, family, valid_from)
);
-- "Who used S": dedicated addresses are looked up by address.
CREATE INDEX egress_account_address_log_address ON egress_account_address_log (address)
  WHERE address IS NOT NULL;
CREATE INDEX egress_node_address_log_address ON egress_node_address_log (address)
  WHERE address IS NOT NULL;

-- Destinations are looked up by address over a day range (abuse reports
-- name a host or a network). Only rows that are new pay for this index:
-- count/last_seen updates leave ip and day alone and stay HOT.
CREATE INDEX connection_daily_ip_day ON connection_daily (ip, day);

-- Records `address` as the current value of one (node, family) history.
CREATE FUNCTION egress_log_node_address(p_node text, p_family smallint, p_address inet)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  open_row egress_node_address_log%ROWTYPE;
BEGIN
  SELECT * INTO open_row FROM egress_node_address_log
   WHERE node_id = p_node AND family = p_family AND valid_until IS NULL;
  IF FOUND AND open_row.address IS NOT DISTINCT FROM p_address THEN
    RETURN;
  END IF;
  IF FOUND AND open_row.valid_from = now() THEN
    UPDATE egress_node_address_log SET address = p_address
     WHERE node_id = p_node AND family = p_family AND valid_from = open_row.valid_from;
    RETURN;
  END IF;
  UPDATE egress_node_address_log SET valid_until = now()
   WHERE node_id = p_node AND family = p_family AND valid_until IS NULL;
  IF p_address IS NOT NULL OR FOUND THEN
    INSERT INTO egress_node_address_log (node_id, family, address, valid_from)
    VALUES (p_node, p_family, p_address, now());
  END IF;
END $$;

CREATE FUNCTION egress_nodes_address_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    UPDATE egress_node_address_log SET valid_until = now()
     WHERE node_id = OLD.node_id AND valid_until IS NULL;
    RETURN OLD;
  END IF;
  PERFORM egress_log_node_address(NEW.node_id, 4::smallint, NEW.server_ipv4);
  PERFORM egress_log_node_address(NEW.node_id, 6::smallint, NEW.server_ipv6);
  RETURN NEW;
END $$;

CREATE TRIGGER nodes_egress_address AFTER INSERT OR UPDATE OF server_ipv4, server_ipv6 OR DELETE
  ON nodes FOR EACH ROW EXECUTE FUNCTION egress_nodes_address_trigger();

-- Brings the account's history up to date with its current row and
-- dedicated IPs (or closes it when the account is gone).
CREATE FUNCTION egress_log_account_addresses(p_account text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  acct accounts%ROWTYPE;
  fam smallint;
  current_address inet;
  open_row egress_account_address_log%ROWTYPE;
BEGIN
  SELECT * INTO acct FROM accounts WHERE account_id = p_account;
  IF NOT FOUND THEN
    UPDATE egress_account_address_log SET valid_until = now()
     WHERE account_id = p_account AND valid_until IS NULL AND valid_from < now();
    DELETE FROM egress_account_address_log
     WHERE account_id = p_account AND valid_until IS NULL AND valid_from = now();
    RETURN;
  END IF;
  FOREACH fam IN ARRAY ARRAY[4, 6]::smallint[] LOOP
    SELECT d.ip INTO current_address FROM dedicated_ips d
     WHERE d.account_id = p_account AND family(d.ip) = fam
     ORDER BY d.ordered_at, d.ip LIMIT 1;
    IF NOT FOUND THEN current_address := NULL; END IF;
    SELECT * INTO open_row FROM egress_account_address_log
     WHERE account_id = p_account AND family = fam AND valid_until IS NULL;
    IF FOUND AND open_row.node_id = acct.node_id AND open_row.incarnation = acct.incarnation
       AND open_row.address IS NOT DISTINCT FROM current_address THEN
      CONTINUE;
    END IF;
    IF FOUND AND open_row.valid_from = now() THEN
      UPDATE egress_account_address_log
         SET node_id = acct.node_id, incarnation = acct.incarnation, address = current_address
       WHERE account_id = p_account AND family = fam AND valid_from = open_row.valid_from;
      CONTINUE;
    END IF;
    UPDATE egress_account_address_log SET valid_until = now()
     WHERE account_id = p_account AND family = fam AND valid_until IS NULL;
    INSERT INTO egress_account_address_log
      (account_id, incarnation, family, node_id, address, valid_from)
    VALUES (p_account, acct.incarnation, fam, acct.node_id, current_address, now());
  END LOOP;
END $$;

CREATE FUNCTION egress_accounts_address_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM egress_log_account_addresses(OLD.account_id);
    RETURN OLD;
  END IF;
  PERFORM egress_log_account_addresses(NEW.account_id);
  RETURN NEW;
END $$;

-- AFTER, so that a deletion cascading to dedicated_ips sees the account gone.
CREATE TRIGGER accounts_egress_address AFTER INSERT OR UPDATE OF node_id, incarnation OR DELETE
  ON accounts FOR EACH ROW EXECUTE FUNCTION egress_accounts_address_trigger();
CREATE TRIGGER dedicated_ips_egress_address AFTER INSERT OR UPDATE OR DELETE
  ON dedicated_ips FOR EACH ROW EXECUTE FUNCTION egress_accounts_address_trigger();

-- What exists now, from -infinity.
INSERT INTO egress_node_address_log (node_id, family, address, valid_from)
SELECT node_id, 4, server_ipv4, '-infinity'::timestamptz FROM nodes WHERE server_ipv4 IS NOT NULL
UNION ALL
SELECT node_id, 6, server_ipv6, '-infinity'::timestamptz FROM nodes WHERE server_ipv6 IS NOT NULL;

INSERT INTO egress_account_address_log
  (account_id, incarnation, family, node_id, address, valid_from)
SELECT a.account_id, a.incarnation, f.family, a.node_id,
       (SELECT d.ip FROM dedicated_ips d
         WHERE d.account_id = a.account_id AND family(d.ip) = f.family
         ORDER BY d.ordered_at, d.ip LIMIT 1),
       '-infinity'
  FROM accounts a CROSS JOIN (VALUES (4::smallint), (6::smallint)) AS f (family);
