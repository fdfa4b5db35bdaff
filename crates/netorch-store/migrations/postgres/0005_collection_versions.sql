-- A counter per record collection, bumped by the database itself in the transaction of every
-- change to `records` or `record_owners`: a reader that finds the version it rendered a list at
-- may serve that rendering again, on every replica, without trusting any process to invalidate.
CREATE TABLE collection_versions (
    collection TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);

CREATE FUNCTION bump_collection_version() RETURNS trigger AS $$
BEGIN
    INSERT INTO collection_versions (collection, version)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.collection ELSE NEW.collection END, 1)
    ON CONFLICT (collection) DO UPDATE SET version = collection_versions.version + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER records_version AFTER INSERT OR UPDATE OR DELETE ON records
    FOR EACH ROW EXECUTE FUNCTION bump_collection_version();
CREATE TRIGGER record_owners_version AFTER INSERT OR UPDATE OR DELETE ON record_owners
    FOR EACH ROW EXECUTE FUNCTION bump_collection_version();
