-- One ACTIVE partner-to-partner request per target, source and customer: a target cannot
-- flood a source, or the customer, with requests and e-mails.
CREATE UNIQUE INDEX transfer_requests_one_active_partner_request
    ON transfer_requests (provider_tenant_id, source_tenant_id, customer_tenant_id)
    WHERE state = 'TRANSFER_REQUEST_STATE_ACTIVE' AND kind = 'TRANSFER_KIND_NEW_COMMERCE_PARTNER';
