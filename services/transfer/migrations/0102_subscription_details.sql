-- Subscriptions carry what orders and transfers need: add-ons linked to their base, status,
-- auto-renewal, billing period and price in integer minor units, the Azure subscription id
-- that survives a transfer, and the lineage a transfer leaves. Subscriptions recorded
-- before were licence-based, active, monthly, with no recorded price.
ALTER TABLE subscriptions ADD COLUMN base_subscription_id TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN status TEXT NOT NULL DEFAULT 'SUBSCRIPTION_STATUS_ACTIVE';
ALTER TABLE subscriptions ADD COLUMN auto_renew BIGINT NOT NULL DEFAULT 1;
ALTER TABLE subscriptions ADD COLUMN billing_period TEXT NOT NULL DEFAULT 'BILLING_PERIOD_MONTHLY';
ALTER TABLE subscriptions ADD COLUMN currency_code TEXT NOT NULL DEFAULT 'USD';
ALTER TABLE subscriptions ADD COLUMN unit_price_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN azure_subscription_id TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN transferred_from TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN transferred_to TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN update_time BIGINT NOT NULL DEFAULT 0;
UPDATE subscriptions SET update_time = create_time;
-- Add-ons of a base, for transfer requests that carry them along.
CREATE INDEX subscriptions_by_base ON subscriptions (base_subscription_id) WHERE base_subscription_id <> '';
