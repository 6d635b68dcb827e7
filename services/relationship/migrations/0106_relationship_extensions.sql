-- Reseller relationship extensions: which partner extended its relationship with which
-- direct-bill customer to which provider, and the customer's recorded consent.
CREATE TABLE relationship_extensions (
    partner_tenant_id   TEXT   NOT NULL,
    customer_tenant_id  TEXT   NOT NULL,
    provider_tenant_id  TEXT   NOT NULL,
    consented_by        TEXT   NOT NULL,
    consent_time        BIGINT NOT NULL,
    notice_text         TEXT   NOT NULL,
    recorded_by         TEXT   NOT NULL,
    create_time         BIGINT NOT NULL,
    PRIMARY KEY (partner_tenant_id, customer_tenant_id, provider_tenant_id)
);
