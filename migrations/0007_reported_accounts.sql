-- "This wasn't me" (issue 8): an account whose owner reported a reset or unlock they did not do.
-- Self-service recovery stays blocked until an admin lifts it (`admin unblock`).
CREATE TABLE reported_accounts (
    account     TEXT PRIMARY KEY,
    reported_at INTEGER NOT NULL,
    via         TEXT NOT NULL CHECK (via IN ('chat', 'email'))
);

-- "I don't have my phone" (issue 8): a recovery finished without the phone suspends the phone's
-- methods (SMS, call, push, authenticator code) until they are registered again.
ALTER TABLE recoveries ADD COLUMN phone_lost INTEGER NOT NULL DEFAULT 0;
ALTER TABLE registrations ADD COLUMN suspended TEXT;   -- comma-separated: mobile, totp, push
