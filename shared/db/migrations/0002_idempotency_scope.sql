-- Idempotency keys are scoped by who asked: `tenant:{uuid}` for users and apps,
-- `operator`, or `service:{name}`. Keys written before were scoped by tenant alone; those
-- of tenants keep working under the new form. The nil tenant's keys were shared by the
-- operator and the services acting for themselves and cannot be told apart: they are
-- dropped (they only served retries of requests long finished).
DELETE FROM idempotency_keys WHERE scope = '00000000-0000-0000-0000-000000000000';
UPDATE idempotency_keys SET scope = 'tenant:' || scope WHERE scope NOT LIKE '%:%';
