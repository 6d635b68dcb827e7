CREATE TABLE customers (
    id                  TEXT   PRIMARY KEY,
    partner_tenant_id   TEXT   NOT NULL,
    customer_tenant_id  TEXT   NOT NULL,
    display_name        TEXT   NOT NULL,
    domain              TEXT   NOT NULL,
    country_code        TEXT   NOT NULL,
    create_time         BIGINT NOT NULL,
    version             BIGINT NOT NULL,
    UNIQUE (partner_tenant_id, customer_tenant_id)
);
CREATE INDEX customers_by_partner ON customers (partner_tenant_id, id);
