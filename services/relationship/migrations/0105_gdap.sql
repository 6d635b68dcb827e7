-- GDAP relationships: a partner's time-limited admin roles in a customer tenant.
CREATE TABLE delegated_admin_relationships (
    id                  TEXT   NOT NULL PRIMARY KEY,
    partner_tenant_id   TEXT   NOT NULL,
    customer_tenant_id  TEXT   NOT NULL,
    display_name        TEXT   NOT NULL,
    roles               TEXT   NOT NULL,
    duration            TEXT   NOT NULL,
    duration_days       BIGINT NOT NULL,
    auto_extend         BIGINT NOT NULL,
    status              TEXT   NOT NULL,
    end_reason          TEXT   NOT NULL,
    ended_by            TEXT   NOT NULL,
    create_time         BIGINT NOT NULL,
    activate_time       BIGINT,
    end_time            BIGINT,
    update_time         BIGINT NOT NULL,
    version             BIGINT NOT NULL
);
-- Graph keeps display names unique per customer.
CREATE UNIQUE INDEX delegated_admin_by_display_name
    ON delegated_admin_relationships (customer_tenant_id, display_name);
-- The access question and the partner's relationships with one customer.
CREATE INDEX delegated_admin_by_pair
    ON delegated_admin_relationships (customer_tenant_id, partner_tenant_id);
-- The expiry sweep reads only relationships still in force, by end.
CREATE INDEX delegated_admin_by_end ON delegated_admin_relationships (status, end_time);
