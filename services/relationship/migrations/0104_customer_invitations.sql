-- An indirect reseller's invitations to customers, each naming one of its providers: the
-- link's token is kept only as a hash; one acceptance creates both relationships.
CREATE TABLE customer_invitations (
    id                           TEXT   PRIMARY KEY,
    reseller_tenant_id           TEXT   NOT NULL,
    provider_tenant_id           TEXT   NOT NULL,
    -- The only tenant whose admin may accept, or '' for any.
    customer_tenant_id           TEXT   NOT NULL,
    state                        TEXT   NOT NULL,
    token_hash                   TEXT   NOT NULL,
    expire_time                  BIGINT NOT NULL,
    accepted_customer_tenant_id  TEXT   NOT NULL,
    accept_time                  BIGINT,
    create_time                  BIGINT NOT NULL,
    version                      BIGINT NOT NULL
);
CREATE UNIQUE INDEX customer_invitations_by_token ON customer_invitations (token_hash);
CREATE INDEX customer_invitations_by_reseller ON customer_invitations (reseller_tenant_id, id);
