-- The simulated ("dummy") cloud: what each dummy VIM account holds. Capacity is checked inside the
-- allocating transaction after locking the account's row in sim_vims, so concurrent deployments
-- on several replicas cannot overbook a VIM.
CREATE TABLE sim_vims (
    vim_account_id TEXT PRIMARY KEY,
    next_seq BIGINT NOT NULL
);

CREATE TABLE sim_resources (
    vim_account_id TEXT NOT NULL REFERENCES sim_vims (vim_account_id),
    res_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    vim_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    vcpus BIGINT NOT NULL,
    ram_mb BIGINT NOT NULL,
    disk_gb BIGINT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (vim_account_id, res_key)
);

CREATE INDEX sim_resources_key ON sim_resources (res_key);
