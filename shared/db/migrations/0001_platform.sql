-- Tables every service database has: replayable responses for idempotent retries, the audit
-- trail and the transactional outbox. Written in the SQL both backends share; `BLOB` becomes
-- `BYTEA` on PostgreSQL (see `Backend::dialect`).

CREATE TABLE idempotency_keys (
    scope        TEXT   NOT NULL,
    request_id   TEXT   NOT NULL,
    method       TEXT   NOT NULL,
    fingerprint  BLOB   NOT NULL,
    response     BLOB   NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, request_id)
);

CREATE TABLE audit_events (
    id               TEXT   PRIMARY KEY,
    occurred_at      BIGINT NOT NULL,
    tenant_id        TEXT   NOT NULL,
    resource_name    TEXT   NOT NULL,
    action           TEXT   NOT NULL,
    actor_subject    TEXT   NOT NULL,
    actor_kind       TEXT   NOT NULL,
    actor_tenant_id  TEXT   NOT NULL,
    via_service      TEXT,
    request_id       TEXT,
    before_state     BLOB,
    after_state      BLOB
);
CREATE INDEX audit_events_by_resource ON audit_events (resource_name, occurred_at);
CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, occurred_at);

CREATE TABLE outbox_messages (
    id               TEXT   PRIMARY KEY,
    created_at       BIGINT NOT NULL,
    topic            TEXT   NOT NULL,
    message_key      TEXT   NOT NULL,
    payload          BLOB   NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    delivered_at     BIGINT,
    last_error       TEXT
);
CREATE INDEX outbox_messages_pending ON outbox_messages (next_attempt_at) WHERE delivered_at IS NULL;
