-- Room for in-place (HOT) updates of the rows every rule change rewrites.
--
-- Every change of an account's rules bumps accounts.rule_version, and every
-- rule set an agent confirms rewrites its nodes row and account_rules_applied
-- rows. With full pages (the default fillfactor of 100) PostgreSQL cannot
-- put the new row version on the same page: the update is not HOT, so it
-- inserts into every index of the table, and the indexes bloat until vacuum
-- (measured under bench/rule_push_bench: 2,002 of 67,036 account updates
-- were HOT). With room on the page the update stays HOT and page pruning
-- reclaims the old versions without vacuum. Pages written from now on keep
-- that room; existing ones get it as they are rewritten (VACUUM FULL, or
-- pg_repack, in a maintenance window if ever wanted).
ALTER TABLE accounts SET (fillfactor = 70);
ALTER TABLE nodes SET (fillfactor = 50);
ALTER TABLE account_rules_applied SET (fillfactor = 70);
