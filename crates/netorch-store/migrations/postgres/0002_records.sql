-- Tenant records of every family (PostgreSQL). The body is a JSON document; owner projects are rows
-- so that the project filter is an indexed join, and names are unique per owner project.
CREATE TABLE records (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT,
    body TEXT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    PRIMARY KEY (collection, id)
);

CREATE TABLE record_owners (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    can_read BIGINT NOT NULL,
    can_write BIGINT NOT NULL,
    PRIMARY KEY (collection, id, project_id),
    FOREIGN KEY (collection, id) REFERENCES records (collection, id) ON DELETE CASCADE
);
CREATE INDEX record_owners_project ON record_owners (project_id, collection);

CREATE TABLE record_names (
    collection TEXT NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (collection, project_id, name),
    FOREIGN KEY (collection, id) REFERENCES records (collection, id) ON DELETE CASCADE
);
