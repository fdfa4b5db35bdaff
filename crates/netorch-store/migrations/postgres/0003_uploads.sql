-- Chunked uploads staged until complete (PostgreSQL).
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    total BIGINT NOT NULL,
    received BIGINT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    offset_bytes BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (upload_id, offset_bytes)
);
