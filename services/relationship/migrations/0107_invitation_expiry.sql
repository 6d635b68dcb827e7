-- Invitations that expire unaccepted are recorded once by the sweep (an event and an audit
-- entry each): customer invitations become EXPIRED; a partnership stays INVITED, and the
-- hash of the link whose expiry was recorded is kept, so that a new invitation (a new link)
-- is recorded again whichever version of the service wrote it. The indexes serve the
-- sweep's read of the rows due.
ALTER TABLE partnerships ADD COLUMN invitation_lapsed_hash TEXT NOT NULL DEFAULT '';
CREATE INDEX partnerships_invitations_due ON partnerships (state, invitation_expire_time);
CREATE INDEX customer_invitations_due ON customer_invitations (state, expire_time);
