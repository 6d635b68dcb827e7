-- A cancelled subscription keeps when it was cancelled and what that credited.
ALTER TABLE subscriptions ADD COLUMN cancel_time BIGINT;
ALTER TABLE subscriptions ADD COLUMN cancellation_credit_minor BIGINT;
