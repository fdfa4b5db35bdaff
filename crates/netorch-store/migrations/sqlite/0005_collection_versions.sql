-- A counter per record collection, bumped by the database itself in the transaction of every
-- change to `records` or `record_owners`: a reader that finds the version it rendered a list at
-- may serve that rendering again, on every replica, without trusting any process to invalidate.
CREATE TABLE collection_versions (
    collection TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);

CREATE TRIGGER records_version_insert AFTER INSERT ON records BEGIN
    INSERT INTO collection_versions (collection, version) VALUES (NEW.collection, 1)
    ON CONFLICT (collection) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER records_version_update AFTER UPDATE ON records BEGIN
    INSERT INTO collection_versions (collection, version) VALUES (NEW.collection, 1)
    ON CONFLICT (collection) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER records_version_delete AFTER DELETE ON records BEGIN
    INSERT INTO collection_versions (collection, version) VALUES (OLD.collection, 1)
    ON CONFLICT (collection) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER record_owners_version_insert AFTER INSERT ON record_owners BEGIN
    INSERT INTO collection_versions (collection, version) VALUES (NEW.collection, 1)
    ON CONFLICT (collection) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER record_owners_version_update AFTER UPDATE ON record_owners BEGIN
    INSERT INTO collection_versions (collection, version) VALUES (NEW.collection, 1)
    ON CONFLICT (collection) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER record_owners_version_delete AFTER DELETE ON record_owners BEGIN
    INSERT INTO collection_versions (collection, version) VALUES (OLD.collection, 1)
    ON CONFLICT (collection) DO UPDATE SET version = version + 1;
END;
