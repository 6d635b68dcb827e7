-- The record of a partnership invitation's expiry is tied to its link: the hash of the link
-- whose expiry was recorded is kept, so a new invitation (a new link) is recorded again
-- whichever version of the service wrote it, and recording it changes no etag. Expiries
-- already recorded carry over.
ALTER TABLE partnerships ADD COLUMN invitation_lapsed_hash TEXT NOT NULL DEFAULT '';
UPDATE partnerships SET invitation_lapsed_hash = invitation_token_hash WHERE invitation_lapsed <> 0;
DROP INDEX partnerships_invitations_due;
ALTER TABLE partnerships DROP COLUMN invitation_lapsed;
-- Only the links whose expiry is not recorded yet: the sweep never rereads recorded ones.
CREATE INDEX partnerships_invitations_due ON partnerships (state, invitation_expire_time)
    WHERE invitation_lapsed_hash <> invitation_token_hash;
-- The GDAP pair index is a prefix of the per-partner display name index, which serves its
-- queries.
DROP INDEX delegated_admin_by_pair;
