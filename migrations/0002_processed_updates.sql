-- Platform updates already taken (Telegram update_id, later Teams activity ids and Discord
-- interaction ids): a repeated delivery is processed once, also across a restart.
CREATE TABLE processed_updates (
    channel    TEXT NOT NULL,
    update_id  TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (channel, update_id)
);
CREATE INDEX processed_updates_at ON processed_updates (at);
