-- Invitations that expire unaccepted are recorded once by the sweep (an event and an audit
-- entry each): customer invitations become EXPIRED; a partnership stays INVITED with its
-- latest invitation marked lapsed until the provider invites again. The indexes serve the
-- sweep's read of the rows due.
ALTER TABLE partnerships ADD COLUMN invitation_lapsed BIGINT NOT NULL DEFAULT 0;
CREATE INDEX partnerships_invitations_due ON partnerships (state, invitation_lapsed, invitation_expire_time);
CREATE INDEX customer_invitations_due ON customer_invitations (state, expire_time);
