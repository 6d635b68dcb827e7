-- New Commerce partner-to-partner transfers share the request, its line items and its
-- workflow with the self-service transfer: the target partner takes the provider's place.
ALTER TABLE transfer_requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'TRANSFER_KIND_INDIRECT_PROVIDER';
ALTER TABLE transfer_requests ADD COLUMN customer_email TEXT NOT NULL DEFAULT '';
