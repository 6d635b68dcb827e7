CREATE TABLE agreement_versions (
    template_id     TEXT   PRIMARY KEY,
    agreement_type  TEXT   NOT NULL,
    display_name    TEXT   NOT NULL,
    effective_time  BIGINT NOT NULL,
    create_time     BIGINT NOT NULL
);
CREATE INDEX agreement_versions_by_type ON agreement_versions (agreement_type, template_id);
