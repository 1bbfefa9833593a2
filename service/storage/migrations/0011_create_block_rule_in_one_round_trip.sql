-- A new block rule in one round trip (PgRulesStore::CreateBlockRule).
--
-- Creating a rule took four round trips (BEGIN, the account's version bump,
-- the checks and inserts, COMMIT); on two shared cores each round trip is a
-- pair of context switches, the largest single cost of a rule change under
-- bench/rule_push_bench. Called as one statement outside a transaction
-- block, this function is its own transaction. Its statements run in order,
-- each with a fresh snapshot (READ COMMITTED, a VOLATILE function), so the
-- checks that follow the account's row lock see every rule committed
-- before the lock was granted, as the multi-statement transaction did.
--
-- Lock order (lock_order.md): the account's row (NO KEY UPDATE) first, then
-- its block rules, its audit event and the ip_info lookup queue.
--
-- Returns no row when the account does not exist. Otherwise one row: the
-- new rule (NULL when refused), the account's node, the rule already
-- blocking the same destination (id and expiry in Unix microseconds, or
-- NULLs), and how many rules the account had. A refusal writes nothing: the
-- version is bumped only together with an inserted rule.
--
-- ROWS 1: the planner of the calling statement, which joins the new rule's
-- ip_info, would otherwise expect 1,000 rows and hash the whole of ip_info
-- on every call (measured: 3.7 ms a call instead of 0.8 ms).
--
-- The audit JSON is the one EGRESS_RULE_JSON builds in pg_rules_store.cc.
CREATE FUNCTION egress_create_block_rule(
    p_account_id text, p_network cidr, p_protocol smallint, p_port integer, p_note text,
    p_actor text, p_expires_us bigint, p_max_rules bigint, p_lookup inet,
    OUT out_rule block_rules, OUT out_node_id text, OUT out_existing_rule_id bigint,
    OUT out_existing_expires_us bigint, OUT out_rules bigint)
RETURNS SETOF record ROWS 1
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_incarnation bigint;
BEGIN
  SELECT a.node_id, a.incarnation INTO out_node_id, v_incarnation
    FROM accounts a WHERE a.account_id = p_account_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;

  SELECT d.rule_id, (extract(epoch FROM d.expires_at) * 1000000)::int8
    INTO out_existing_rule_id, out_existing_expires_us
    FROM block_rules d
   WHERE d.account_id = p_account_id AND d.network = p_network
     AND d.protocol = p_protocol AND d.port = p_port;
  SELECT count(*) INTO out_rules FROM block_rules c WHERE c.account_id = p_account_id;

  IF out_existing_rule_id IS NULL AND out_rules < p_max_rules THEN
    INSERT INTO block_rules AS r (account_id, network, protocol, port, note, created_by, expires_at)
    VALUES (p_account_id, p_network, p_protocol, p_port, p_note, p_actor,
            'epoch'::timestamptz + p_expires_us * interval '1 microsecond')
    ON CONFLICT ON CONSTRAINT block_rules_destination_unique DO NOTHING
    RETURNING r.* INTO out_rule;
    IF FOUND THEN
      UPDATE accounts SET rule_version = rule_version + 1, updated_at = now()
       WHERE account_id = p_account_id;
      INSERT INTO audit_log (account_id, actor, action, before, after, incarnation)
      VALUES (p_account_id, p_actor, 'block_rule.create', NULL,
              jsonb_build_object('rule_id', out_rule.rule_id, 'network', out_rule.network::text,
                                 'protocol', CASE out_rule.protocol WHEN 0 THEN 'any'
                                             WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' END,
                                 'port', out_rule.port, 'note', out_rule.note,
                                 'expires_at', out_rule.expires_at),
              v_incarnation);
      -- One address the node never reported: nothing else would look it up.
      IF p_lookup IS NOT NULL THEN
        INSERT INTO ip_info (ip) VALUES (p_lookup) ON CONFLICT DO NOTHING;
      END IF;
    END IF;
  END IF;
  RETURN NEXT;
END
$$;
