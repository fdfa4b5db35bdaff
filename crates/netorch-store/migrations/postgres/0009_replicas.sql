-- Replicas on one database: a lease per singleton task (who runs the periodic work, until when),
-- and values every replica must agree on (the sealing key's fingerprint), pinned by the first.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE pinned_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    pinned_at BIGINT NOT NULL
);
