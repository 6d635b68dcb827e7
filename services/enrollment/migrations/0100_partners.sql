CREATE TABLE partners (
    tenant_id              TEXT   PRIMARY KEY,
    legal_name             TEXT   NOT NULL,
    country_code           TEXT   NOT NULL,
    primary_contact_email  TEXT   NOT NULL,
    partner_program_id     TEXT   NOT NULL,
    create_time            BIGINT NOT NULL,
    update_time            BIGINT NOT NULL,
    version                BIGINT NOT NULL
);
