-- A GDAP display name is unique among one partner's relationships with one customer, so
-- that a refused name tells a partner nothing about another partner's relationships.
DROP INDEX delegated_admin_by_display_name;
CREATE UNIQUE INDEX delegated_admin_by_partner_display_name
    ON delegated_admin_relationships (customer_tenant_id, partner_tenant_id, display_name);
