-- A customer invitation may come from a partner that bills customers, for itself alone
-- (provider_tenant_id ''), naming the subscriptions it is to take over (one per line).
ALTER TABLE customer_invitations ADD COLUMN inviter_role TEXT NOT NULL DEFAULT 'PARTNER_ROLE_INDIRECT_RESELLER';
ALTER TABLE customer_invitations ADD COLUMN subscriptions TEXT NOT NULL DEFAULT '';
