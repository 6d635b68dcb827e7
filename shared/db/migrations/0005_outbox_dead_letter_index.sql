-- The outbox gauges read, every few seconds, each topic's waiting messages (how many, the
-- oldest) and its dead letters: two partial indexes keep both reads to those rows, however
-- long the delivered history.
CREATE INDEX outbox_messages_waiting ON outbox_messages (topic, created_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_messages_dead ON outbox_messages (topic) WHERE failed_at IS NOT NULL;
