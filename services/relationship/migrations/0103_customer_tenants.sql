-- Each customer tenant is created once, by the partner that adds it (a direct-bill partner,
-- or a provider for its reseller); another partner reaches an existing tenant only through
-- the customer's consent (an invitation), never by recording it again. Tenants recorded by
-- several partners before keep the earliest partner as their creator.
CREATE TABLE customer_tenants (
    tenant_id          TEXT   PRIMARY KEY,
    creator_tenant_id  TEXT   NOT NULL,
    create_time        BIGINT NOT NULL
);
INSERT INTO customer_tenants (tenant_id, creator_tenant_id, create_time)
SELECT c.customer_tenant_id, MIN(c.partner_tenant_id), MIN(c.create_time)
FROM customers c
WHERE c.create_time = (SELECT MIN(e.create_time) FROM customers e WHERE e.customer_tenant_id = c.customer_tenant_id)
GROUP BY c.customer_tenant_id;
