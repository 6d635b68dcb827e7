CREATE TABLE partnerships (
    provider_tenant_id      TEXT   NOT NULL,
    reseller_tenant_id      TEXT   NOT NULL,
    state                   TEXT   NOT NULL,
    invite_email            TEXT   NOT NULL,
    invitation_token_hash   TEXT   NOT NULL,
    invite_time             BIGINT NOT NULL,
    invitation_expire_time  BIGINT NOT NULL,
    accept_time             BIGINT,
    suspended_by            TEXT,
    create_time             BIGINT NOT NULL,
    update_time             BIGINT NOT NULL,
    version                 BIGINT NOT NULL,
    PRIMARY KEY (provider_tenant_id, reseller_tenant_id)
);
CREATE UNIQUE INDEX partnerships_by_token ON partnerships (invitation_token_hash);
CREATE INDEX partnerships_by_reseller ON partnerships (reseller_tenant_id, provider_tenant_id);
