-- SLICES connectivity: topology, reservations and per-site VLAN bookings (postgres).
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE slices_sites (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    s_tags TEXT NOT NULL,
    c_tags TEXT NOT NULL,
    -- Longest booking ever made at this site (µs). Bounds the overlap scan so that it reads only
    -- bookings starting in (start - max_span, end): an index range, not the whole history.
    max_span BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE slices_links (
    link_key TEXT PRIMARY KEY,
    site_a TEXT NOT NULL REFERENCES slices_sites (name),
    site_b TEXT NOT NULL REFERENCES slices_sites (name),
    capacity_ab BIGINT NOT NULL CHECK (capacity_ab > 0),
    capacity_ba BIGINT NOT NULL CHECK (capacity_ba > 0),
    max_span BIGINT NOT NULL DEFAULT 0,
    CHECK (site_a < site_b)
);

CREATE TABLE slices_reservations (
    id TEXT PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    site1 TEXT NOT NULL,
    site2 TEXT NOT NULL,
    link_key TEXT NOT NULL,
    bandwidth BIGINT NOT NULL CHECK (bandwidth > 0),
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    site1_s_tag BIGINT NOT NULL,
    site1_c_tag BIGINT NOT NULL,
    site2_s_tag BIGINT NOT NULL,
    site2_c_tag BIGINT NOT NULL,
    qinq BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('active', 'deleted', 'expired')),
    idempotency_key TEXT,
    request_hash TEXT,
    CHECK (end_us > start_us),
    CHECK (site1 <> site2)
);
CREATE INDEX slices_reservations_link ON slices_reservations (link_key, start_us) WHERE state = 'active';
CREATE INDEX slices_reservations_end ON slices_reservations (end_us) WHERE state = 'active';
CREATE INDEX slices_reservations_experiment ON slices_reservations (experiment_id, start_us);
CREATE UNIQUE INDEX slices_reservations_idempotency ON slices_reservations (experiment_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- One row per side of an active reservation; removed when it is released or expires.
CREATE TABLE slices_vlan_bookings (
    reservation_id TEXT NOT NULL REFERENCES slices_reservations (id) ON DELETE CASCADE,
    site TEXT NOT NULL REFERENCES slices_sites (name),
    s_tag BIGINT NOT NULL,
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    PRIMARY KEY (reservation_id, site)
);
CREATE INDEX slices_vlan_bookings_site ON slices_vlan_bookings (site, start_us);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    alg TEXT NOT NULL,
    sealed_private TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    publish_until BIGINT
);
CREATE INDEX signing_keys_purpose ON signing_keys (purpose, created_at);

-- The database itself refuses a double booking, whatever the application does: no two bookings of
-- one S-tag at one site over overlapping half-open time ranges.
ALTER TABLE slices_vlan_bookings ADD CONSTRAINT slices_vlan_no_double_booking EXCLUDE USING gist (
    site WITH =,
    s_tag WITH =,
    tstzrange(to_timestamp(start_us::double precision / 1000000), to_timestamp(end_us::double precision / 1000000), '[)') WITH &&
);
