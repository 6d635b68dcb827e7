-- The trace context of the change that wrote a message, so that its delivery (a transfer's
-- execution, an e-mail) links back to the request that caused it. Empty when the writer
-- recorded no trace.
ALTER TABLE outbox_messages ADD COLUMN trace_parent TEXT;
-- The token of the claim an attempt holds: renewals and the outcome are written only under
-- it, and a message without one that has an error is waiting out a back-off.
ALTER TABLE outbox_messages ADD COLUMN lease_token TEXT;
