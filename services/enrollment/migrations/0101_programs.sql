ALTER TABLE partners ADD COLUMN partner_program_id_verified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE partners ADD COLUMN program_account_email TEXT NOT NULL DEFAULT '';

CREATE TABLE monthly_revenue (
    tenant_id     TEXT   NOT NULL,
    month         TEXT   NOT NULL,
    amount_minor  BIGINT NOT NULL,
    update_time   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month)
);

CREATE TABLE enrollments (
    tenant_id          TEXT   NOT NULL,
    program            TEXT   NOT NULL,
    state              TEXT   NOT NULL,
    create_time        BIGINT NOT NULL,
    approval_due_time  BIGINT NOT NULL,
    approve_time       BIGINT,
    activate_time      BIGINT,
    agreement_version  TEXT,
    reject_reason      TEXT,
    transitioning      BIGINT NOT NULL,
    access_end_time    BIGINT,
    update_time        BIGINT NOT NULL,
    version            BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, program)
);
CREATE INDEX enrollments_by_access_end ON enrollments (access_end_time) WHERE access_end_time IS NOT NULL;

-- One row: the programs approved on submission, comma-separated.
CREATE TABLE approval_policy (
    id                      BIGINT PRIMARY KEY,
    auto_approved_programs  TEXT   NOT NULL,
    version                 BIGINT NOT NULL
);
INSERT INTO approval_policy (id, auto_approved_programs, version) VALUES (1, '', 1);

CREATE TABLE incentive_enrollments (
    tenant_id     TEXT   NOT NULL,
    program       TEXT   NOT NULL,
    state         TEXT   NOT NULL,
    invite_time   BIGINT,
    invite_email  TEXT,
    enroll_time   BIGINT,
    PRIMARY KEY (tenant_id, program)
);

CREATE TABLE indirect_providers (
    id                        TEXT   PRIMARY KEY,
    display_name              TEXT   NOT NULL,
    name_key                  TEXT   NOT NULL,
    provider_tenant_id        TEXT   NOT NULL UNIQUE,
    offers_technical_support  BIGINT NOT NULL,
    offers_sales_help         BIGINT NOT NULL,
    offers_credit_terms       BIGINT NOT NULL,
    description               TEXT   NOT NULL,
    website_uri               TEXT   NOT NULL,
    update_time               BIGINT NOT NULL,
    version                   BIGINT NOT NULL
);
CREATE INDEX indirect_providers_by_name ON indirect_providers (name_key, id);

CREATE TABLE provider_countries (
    provider_id   TEXT NOT NULL REFERENCES indirect_providers (id) ON DELETE CASCADE,
    country_code  TEXT NOT NULL,
    PRIMARY KEY (provider_id, country_code)
);
CREATE INDEX provider_countries_by_country ON provider_countries (country_code, provider_id);
