-- A message that finally failed is a dead letter, kept apart from the delivered ones: it is
-- never retried, never pruned, and an operator can find it. Messages recorded as failed
-- before kept the reason in `last_error`, prefixed `failed: `.
ALTER TABLE outbox_messages ADD COLUMN failed_at BIGINT;
-- A dead letter is never due again, also for replicas of the release before this one.
UPDATE outbox_messages SET failed_at = delivered_at, delivered_at = NULL, next_attempt_at = 9223372036854775807
WHERE delivered_at IS NOT NULL AND last_error LIKE 'failed: %';
-- The relay asks for due messages of its topics: one index serves exactly that question,
-- so a pass reads no other topic's backlog.
DROP INDEX outbox_messages_pending;
CREATE INDEX outbox_messages_due ON outbox_messages (topic, next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
-- Retention deletes delivered messages and old idempotency keys by age.
CREATE INDEX outbox_messages_delivered ON outbox_messages (delivered_at)
    WHERE delivered_at IS NOT NULL;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
