CREATE TABLE subscriptions (
    id                 TEXT   PRIMARY KEY,
    partner_tenant_id  TEXT   NOT NULL,
    customer_id        TEXT   NOT NULL,
    offer_id           TEXT   NOT NULL,
    offer_kind         TEXT   NOT NULL,
    quantity           BIGINT NOT NULL,
    create_time        BIGINT NOT NULL,
    version            BIGINT NOT NULL
);
CREATE INDEX subscriptions_by_customer ON subscriptions (partner_tenant_id, customer_id, id);
