-- An Azure subscription is billed by one partner at a time: its id is ACTIVE once at most.
CREATE UNIQUE INDEX subscriptions_azure_active ON subscriptions (azure_subscription_id)
    WHERE azure_subscription_id <> '' AND status = 'SUBSCRIPTION_STATUS_ACTIVE';
