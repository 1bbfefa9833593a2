-- An account id can be reused: after DeleteAccount, a later account with the
-- same id is another customer and must never see the earlier one's history
-- (its rules, notes, locks, scans). Every account row gets an incarnation
-- number at creation, every audit event the incarnation it belongs to; the
-- panel lists only the current incarnation's events, admins may ask for all
-- (forensics).
CREATE SEQUENCE account_incarnations;
ALTER TABLE accounts ADD COLUMN incarnation bigint NOT NULL
  DEFAULT nextval('account_incarnations');
ALTER SEQUENCE account_incarnations OWNED BY accounts.incarnation;
-- NULL: an event of an incarnation from before this migration that is not
-- the current one (only admins see those).
ALTER TABLE audit_log ADD COLUMN incarnation bigint;

-- Existing events: those after the last deletion of the id belong to the
-- account that exists now.
UPDATE audit_log l
   SET incarnation = a.incarnation
  FROM accounts a
 WHERE a.account_id = l.account_id
   AND l.event_id > coalesce((SELECT max(d.event_id) FROM audit_log d
                               WHERE d.account_id = l.account_id
                                 AND d.action = 'account.delete'), 0);
