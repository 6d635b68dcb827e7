-- Idempotency keys are scoped by who asked: `tenant:{uuid}` for users and apps,
-- `operator`, or `service:{name}`. Keys written before were scoped by the caller's tenant
-- alone, the nil tenant standing for the operator and the services acting for themselves:
-- the agreement service is the only service that sends mutations for itself
-- (ActivateEnrollment), so its keys are told apart by their method and keep replaying for
-- the relay's retries; the other nil-tenant keys were the operator's.
UPDATE idempotency_keys SET scope = 'service:agreement'
WHERE scope = '00000000-0000-0000-0000-000000000000' AND method = 'ActivateEnrollment';
UPDATE idempotency_keys SET scope = 'operator'
WHERE scope = '00000000-0000-0000-0000-000000000000';
UPDATE idempotency_keys SET scope = 'tenant:' || scope
WHERE scope NOT LIKE '%:%' AND scope <> 'operator';
