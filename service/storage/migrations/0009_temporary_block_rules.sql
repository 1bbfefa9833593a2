-- Temporary block rules: a rule may end by itself.
--
-- * block_rules.expires_at: NULL for a rule that holds until deleted. The
--   service refuses an expiry in the past or more than 366 days ahead, so
--   a stored one is always within that range when written.
-- * Nodes stop enforcing the rule at expires_at by themselves (kernel set
--   element timeouts); every replica's sweeper deletes expired rules one
--   account per transaction under the account's row lock (lock_order.md),
--   bumps the account's rule version and audits "block_rule.expire".

ALTER TABLE block_rules ADD COLUMN expires_at timestamptz;
-- The sweeper looks for rules that ran out; most rules never expire.
CREATE INDEX block_rules_expiring ON block_rules (expires_at) WHERE expires_at IS NOT NULL;
