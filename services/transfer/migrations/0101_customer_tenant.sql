-- Customers are named by their Microsoft Entra tenant id in every service
-- (`partners/{partner}/customers/{tenant}`): the column says so. Subscriptions recorded
-- before named their customer by the relationship service's former record id; no
-- deployment held any, and this database cannot translate them (the mapping lives in the
-- relationship service's database), so they keep the id they had.
ALTER TABLE subscriptions RENAME COLUMN customer_id TO customer_tenant_id;
