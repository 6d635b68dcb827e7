-- An integration sandbox account is marked at registration; nothing moves between partners
-- from a sandbox. Every partner registered before is a production tenant.
ALTER TABLE partners ADD COLUMN integration_sandbox BIGINT NOT NULL DEFAULT 0;
