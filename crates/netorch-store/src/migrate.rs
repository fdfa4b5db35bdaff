//! Embedded migrations, one set per backend.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Backend;

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "records",
        include_str!("../migrations/sqlite/0002_records.sql"),
    ),
    (
        3,
        "uploads",
        include_str!("../migrations/sqlite/0003_uploads.sql"),
    ),
    (
        4,
        "slices",
        include_str!("../migrations/sqlite/0004_slices.sql"),
    ),
    (
        5,
        "collection versions",
        include_str!("../migrations/sqlite/0005_collection_versions.sql"),
    ),
    (
        6,
        "simulated cloud",
        include_str!("../migrations/sqlite/0006_simulated_cloud.sql"),
    ),
    (
        7,
        "record lookups",
        include_str!("../migrations/sqlite/0007_record_lookups.sql"),
    ),
    (
        8,
        "dmi handles",
        include_str!("../migrations/sqlite/0008_dmi_handles.sql"),
    ),
    (
        9,
        "replicas",
        include_str!("../migrations/sqlite/0009_replicas.sql"),
    ),
];

const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        "records",
        include_str!("../migrations/postgres/0002_records.sql"),
    ),
    (
        3,
        "uploads",
        include_str!("../migrations/postgres/0003_uploads.sql"),
    ),
    (
        4,
        "slices",
        include_str!("../migrations/postgres/0004_slices.sql"),
    ),
    (
        5,
        "collection versions",
        include_str!("../migrations/postgres/0005_collection_versions.sql"),
    ),
    (
        6,
        "simulated cloud",
        include_str!("../migrations/postgres/0006_simulated_cloud.sql"),
    ),
    (
        7,
        "record lookups",
        include_str!("../migrations/postgres/0007_record_lookups.sql"),
    ),
    (
        8,
        "dmi handles",
        include_str!("../migrations/postgres/0008_dmi_handles.sql"),
    ),
    (
        9,
        "replicas",
        include_str!("../migrations/postgres/0009_replicas.sql"),
    ),
];

/// The migrator for a backend. Built from files embedded at compile time so the binary needs no
/// migration directory at run time (and sqlx's `macros` feature, which compiles SQLite twice, is
/// not needed).
pub(crate) fn migrator(backend: Backend) -> Migrator {
    let set = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let migrations = set
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                sqlx::AssertSqlSafe(*sql).into_sql_str(),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Latest migration version known to this binary.
pub(crate) fn latest(backend: Backend) -> i64 {
    match backend {
        Backend::Sqlite => SQLITE.last().map(|m| m.0).unwrap_or(0),
        Backend::Postgres => POSTGRES.last().map(|m| m.0).unwrap_or(0),
    }
}

use sqlx::SqlSafeStr as _;
