-- One ACTIVE partner-to-partner request per target, source and customer: a target cannot
-- flood a source, or the customer, with requests and e-mails.
CREATE UNIQUE INDEX transfer_requests_one_active_partner_request
    ON transfer_requests (provider_tenant_id, source_tenant_id, customer_tenant_id)
    WHERE state = 'TRANSFER_REQUEST_STATE_ACTIVE' AND kind = 'TRANSFER_KIND_NEW_COMMERCE_PARTNER';
-- A partner-to-partner request naming a source that is no partner of record of the customer
-- stays the target's alone: the named tenant never sees it, is never e-mailed, and learns
-- nothing of the customer.
ALTER TABLE transfer_requests ADD COLUMN source_visible BIGINT NOT NULL DEFAULT 1;
