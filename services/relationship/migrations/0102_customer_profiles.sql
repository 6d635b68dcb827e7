-- A partner's view of a customer carries the customer's billing profile, the partner's role
-- and how the partner came to have the customer. Customers are named by their tenant id in
-- every service, so a partner's view is found by (partner, customer tenant); the record id
-- stays as the keyset order (creation order) of a partner's list.
ALTER TABLE customers ADD COLUMN billing_company_name TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_address_line1 TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_address_line2 TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_city TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_region TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_postal_code TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_country_code TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_contact_first_name TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_contact_last_name TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_contact_email TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_contact_phone TEXT NOT NULL DEFAULT '';
-- Every customer recorded before was added by a direct-bill partner.
ALTER TABLE customers ADD COLUMN partner_role TEXT NOT NULL DEFAULT 'PARTNER_ROLE_DIRECT_BILL_PARTNER';
ALTER TABLE customers ADD COLUMN acquisition TEXT NOT NULL DEFAULT 'ACQUISITION_DIRECT_BILL';
ALTER TABLE customers ADD COLUMN admin_permissions BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN update_time BIGINT NOT NULL DEFAULT 0;
-- A direct-bill partner administers the customers it added.
UPDATE customers SET update_time = create_time, admin_permissions = 1;
-- A customer's partners, for the customer's own admin and the other services' questions.
CREATE INDEX customers_by_customer_tenant ON customers (customer_tenant_id, id);
