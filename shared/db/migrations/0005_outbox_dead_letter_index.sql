-- The outbox gauges count each topic's dead letters every few seconds: a partial index keeps
-- that to the dead letters themselves, however long the delivered history.
CREATE INDEX outbox_messages_dead ON outbox_messages (topic) WHERE failed_at IS NOT NULL;
