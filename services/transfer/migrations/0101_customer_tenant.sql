-- Customers are named by their Microsoft Entra tenant id in every service
-- (`partners/{partner}/customers/{tenant}`): the column says so. Subscriptions recorded
-- before named their customer by the relationship service's former record id, which this
-- database cannot translate (the mapping lives in the relationship service's database).
-- No deployment held any; should one, the migration stops here rather than orphan them
-- (the CHECK fails for any count but zero).
CREATE TABLE subscriptions_before_tenant_names (n BIGINT NOT NULL CHECK (n = 0));
INSERT INTO subscriptions_before_tenant_names (n) SELECT COUNT(*) FROM subscriptions;
DROP TABLE subscriptions_before_tenant_names;
ALTER TABLE subscriptions RENAME COLUMN customer_id TO customer_tenant_id;
