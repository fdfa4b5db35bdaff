//! Connection management, error mapping and the `Store` handle.

use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

use netorch_core::{StoreError, events::NewEvent};
use sqlx::{
    AnyPool, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
};
use tokio::sync::Notify;

use crate::migrate;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Detects the backend from a URL (`sqlite:` or `postgres://` / `postgresql://`).
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Maximum connections in the (read) pool.
    pub max_connections: u32,
    /// How long to wait for a connection before answering "unavailable".
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

struct Inner {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    outbox_wake: Arc<Notify>,
    batcher: crate::connectivity::Batcher,
}

/// Handle to the database; cheap to clone. Implements every repository port of `netorch-core`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish()
    }
}

static DRIVERS: std::sync::Once = std::sync::Once::new();

impl Store {
    /// Connects to `url`. For SQLite the file (and its directory) is created if missing.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Self, StoreError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = Backend::from_url(url).ok_or_else(|| {
            StoreError::Unavailable(format!(
                "unsupported database URL (expected sqlite: or postgres://): {}",
                redact_url(url)
            ))
        })?;
        let mut connect = AnyConnectOptions::from_str(url).map_err(map_err)?;
        connect = sqlx::ConnectOptions::disable_statement_logging(connect);
        let (read, write) = match backend {
            Backend::Sqlite => {
                if let Some(path) = sqlite_path(url)
                    && let Some(dir) = Path::new(&path).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                let pragmas = |max: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(opts.acquire_timeout)
                        .after_connect(|conn, _meta| {
                            Box::pin(async move {
                                // WAL lets readers run beside the single writer; foreign keys are
                                // how the schema refuses deleting a role or project still in use.
                                conn.execute("PRAGMA journal_mode=WAL").await?;
                                conn.execute("PRAGMA foreign_keys=ON").await?;
                                conn.execute("PRAGMA busy_timeout=5000").await?;
                                conn.execute("PRAGMA synchronous=NORMAL").await?;
                                Ok(())
                            })
                        })
                };
                // One writer connection serialises every write transaction: SQLite allows one
                // writer anyway, and a single connection avoids lock-upgrade SQLITE_BUSY errors.
                let write = pragmas(1)
                    .connect_with(connect.clone())
                    .await
                    .map_err(map_err)?;
                let read = pragmas(opts.max_connections.max(1))
                    .connect_with(connect)
                    .await
                    .map_err(map_err)?;
                (read, write)
            }
            Backend::Postgres => {
                // One connection outside the pool first: its error names the cause (refused,
                // unknown host, wrong password), which the pool would report as a time-out.
                let first = tokio::time::timeout(
                    opts.acquire_timeout,
                    sqlx::ConnectOptions::connect(&connect),
                )
                .await
                .map_err(|_| {
                    StoreError::Unavailable(format!("no answer within {:?}", opts.acquire_timeout))
                })?
                .map_err(map_err)?;
                let _ = sqlx::Connection::close(first).await;
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(connect)
                    .await
                    .map_err(map_err)?;
                (pool.clone(), pool)
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                read,
                write,
                outbox_wake: Arc::new(Notify::new()),
                batcher: Default::default(),
            }),
        })
    }

    /// Applies pending migrations (idempotent; several replicas may run it at once on Postgres,
    /// sqlx serialises them with an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate::migrator(self.inner.backend)
            .run(&self.inner.write)
            .await
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
    }

    /// True if the database answers and every migration this binary knows is applied.
    pub async fn ready(&self) -> Result<bool, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success = true")
                .fetch_optional(&self.inner.read)
                .await
                .map_err(map_err)?;
        Ok(row.map(|r| r.0).unwrap_or(0) >= migrate::latest(self.inner.backend))
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Signalled after every commit that appended outbox events, so the relay publishes without
    /// waiting for its next poll.
    pub fn outbox_wake(&self) -> Arc<Notify> {
        self.inner.outbox_wake.clone()
    }

    /// Closes the pools (graceful shutdown).
    pub async fn close(&self) {
        self.inner.write.close().await;
        self.inner.read.close().await;
    }

    pub(crate) fn read(&self) -> &AnyPool {
        &self.inner.read
    }

    pub(crate) fn write(&self) -> &AnyPool {
        &self.inner.write
    }

    pub(crate) fn batcher(&self) -> &crate::connectivity::Batcher {
        &self.inner.batcher
    }

    pub(crate) fn is_postgres(&self) -> bool {
        self.inner.backend == Backend::Postgres
    }

    /// Inserts outbox rows inside a transaction; they are deliverable at once (`available_at` 0).
    /// `created_at` is the wall clock of the write: records carry their own domain timestamps.
    pub(crate) async fn append_events(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let now = netorch_core::Clock::now(&netorch_core::SystemClock);
        // Multi-row inserts: a batch of reservations writes its events in one statement.
        for chunk in events.chunks(100) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, 0)",
                        i * 5 + 1,
                        i * 5 + 2,
                        i * 5 + 3,
                        i * 5 + 4,
                        i * 5 + 5
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO outbox (id, topic, key, payload, created_at, available_at) VALUES {}",
                rows.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(&e.id)
                    .bind(&e.topic)
                    .bind(&e.key)
                    .bind(e.payload.to_string())
                    .bind(now);
            }
            q.execute(&mut **tx).await.map_err(map_err)?;
        }
        Ok(())
    }

    /// Appends `events` to the outbox, commits, and wakes the relay: the common end of every
    /// mutation.
    pub(crate) async fn commit_with(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        Store::append_events(&mut tx, events).await?;
        self.commit(tx, !events.is_empty()).await
    }

    /// Commits and wakes the relay if events were written.
    pub(crate) async fn commit(
        &self,
        tx: sqlx::Transaction<'_, sqlx::Any>,
        had_events: bool,
    ) -> Result<(), StoreError> {
        tx.commit().await.map_err(map_err)?;
        if had_events {
            self.inner.outbox_wake.notify_one();
        }
        Ok(())
    }
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}

/// Hides the password of a database URL for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Maps sqlx errors to domain errors: constraint violations become `Conflict`/`InUse`.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_string())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::InUse(db.message().to_string())
        }
        // The server going away or refusing for now (a restart, a fail-over, too many clients):
        // SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, crash, starting up),
        // 53300 (too many connections). A caller may retry; clients get 503, not 500.
        sqlx::Error::Database(db)
            if db.code().is_some_and(|c| {
                c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
            }) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

pub(crate) fn json_text(s: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Internal(format!("corrupt JSON column: {e}")))
}

/// `$first, $first+1, ...` placeholders for an IN list.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password_of_a_postgres_url() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn finds_the_file_of_a_sqlite_url() {
        assert_eq!(
            sqlite_path("sqlite://data/n.db?mode=rwc").as_deref(),
            Some("data/n.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
