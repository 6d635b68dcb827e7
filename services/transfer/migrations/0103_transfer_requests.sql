-- Self-service transfer requests, their line items and the record of each execution step.
CREATE TABLE transfer_requests (
    id                  TEXT   PRIMARY KEY,
    source_tenant_id    TEXT   NOT NULL,
    customer_tenant_id  TEXT   NOT NULL,
    provider_tenant_id  TEXT   NOT NULL,
    state               TEXT   NOT NULL,
    create_time         BIGINT NOT NULL,
    expire_time         BIGINT NOT NULL,
    update_time         BIGINT NOT NULL,
    end_time            BIGINT,
    rejection_note      TEXT   NOT NULL,
    step                TEXT   NOT NULL,
    step_attempts       BIGINT NOT NULL,
    last_error          TEXT   NOT NULL,
    last_attempt_time   BIGINT,
    deadline            BIGINT,
    failure_reason      TEXT   NOT NULL,
    version             BIGINT NOT NULL
);
CREATE INDEX transfer_requests_by_source ON transfer_requests (source_tenant_id, id);
CREATE INDEX transfer_requests_by_provider ON transfer_requests (provider_tenant_id, id);
-- The expiry sweep reads only ACTIVE requests that are due.
CREATE INDEX transfer_requests_expiring ON transfer_requests (expire_time) WHERE state = 'TRANSFER_REQUEST_STATE_ACTIVE';

CREATE TABLE transfer_line_items (
    request_id                   TEXT   NOT NULL,
    position                     BIGINT NOT NULL,
    subscription_id              TEXT   NOT NULL,
    offer_id                     TEXT   NOT NULL,
    offer_kind                   TEXT   NOT NULL,
    quantity                     BIGINT NOT NULL,
    base_subscription_id         TEXT   NOT NULL,
    included_with_base           BIGINT NOT NULL,
    transferred_subscription_id  TEXT   NOT NULL,
    -- 1 while the request is ACTIVE or ACCEPTED, 0 once it ended.
    open                         BIGINT NOT NULL,
    PRIMARY KEY (request_id, position)
);
-- A subscription is in at most one open request: held by the database, so two concurrent
-- creates cannot both win.
CREATE UNIQUE INDEX transfer_line_items_one_open_request ON transfer_line_items (subscription_id) WHERE open = 1;

-- Every attempt at every step of an execution, written in the transaction of its effect.
CREATE TABLE transfer_steps (
    request_id  TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    step        TEXT   NOT NULL,
    outcome     TEXT   NOT NULL,
    detail      TEXT   NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (request_id, version)
);
