-- Cancelling a callback request needs the key handed to the page that made it, not
-- just the request's id: a second POST of the same number returns the pending
-- request's id (one request per number), and an id alone must not let anyone who
-- knows a victim's number withdraw their callback. Only a SHA-256 of the key is kept.
-- Requests made before this (and those of the IVR's "press 1") have no key: they are
-- not cancelled through the public API.
ALTER TABLE callback_requests ADD COLUMN cancel_key_sha256 bytea;
