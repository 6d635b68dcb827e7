-- Acceptances are history: rows are added, never overwritten (only a partner acceptance's
-- activation state moves on).
CREATE TABLE partner_acceptances (
    id                 TEXT   PRIMARY KEY,
    partner_tenant_id  TEXT   NOT NULL,
    agreement_version  TEXT   NOT NULL,
    enrollment         TEXT   NOT NULL,
    accepted_by        TEXT   NOT NULL,
    accept_time        BIGINT NOT NULL,
    activation_state   TEXT   NOT NULL,
    activation_error   TEXT,
    update_time        BIGINT NOT NULL
);
CREATE INDEX partner_acceptances_by_partner ON partner_acceptances (partner_tenant_id, id);

CREATE TABLE customer_acceptances (
    id                           TEXT   PRIMARY KEY,
    customer_tenant_id           TEXT   NOT NULL,
    agreement_version            TEXT   NOT NULL,
    method                       TEXT   NOT NULL,
    attesting_partner_tenant_id  TEXT,
    signer_first_name            TEXT   NOT NULL,
    signer_last_name             TEXT   NOT NULL,
    signer_email                 TEXT   NOT NULL,
    signer_phone                 TEXT   NOT NULL,
    accept_time                  BIGINT NOT NULL,
    create_time                  BIGINT NOT NULL,
    recorded_by                  TEXT   NOT NULL
);
CREATE INDEX customer_acceptances_by_customer ON customer_acceptances (customer_tenant_id, id);
