#![doc = include_str!("../README.md")]

mod app;

pub mod netconf;
pub mod process;
pub use app::{Answer, START, TestApp, call, request};

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use netorch_core::events::{EventSink, OutboxEvent, SinkError};
use netorch_store::{Store, StoreOptions};

/// Name of the variable that selects PostgreSQL for tests.
pub const PG_ENV: &str = "NETORCH_TEST_DATABASE_URL";

/// A database for one test.
pub struct TestDb {
    /// Connection URL.
    pub url: String,
    /// Temporary directory (SQLite file, data dir), removed on drop.
    pub dir: tempfile::TempDir,
}

impl TestDb {
    /// SQLite in a temporary directory, or a new PostgreSQL database when `NETORCH_TEST_DATABASE_URL`
    /// is set.
    pub async fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = match std::env::var(PG_ENV) {
            Ok(admin) if !admin.is_empty() => {
                sqlx::any::install_default_drivers();
                let name = format!("t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await?;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                format!("{base}/{name}")
            }
            _ => format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
        };
        Ok(Self { url, dir })
    }

    /// True when running on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> anyhow::Result<Store> {
        // A generous wait for a connection: the whole suite runs in parallel against one
        // PostgreSQL on a 2-core CI machine, where the default 5 s is sometimes not enough.
        let store = Store::connect(
            &self.url,
            &StoreOptions {
                acquire_timeout: std::time::Duration::from_secs(30),
                ..StoreOptions::default()
            },
        )
        .await?;
        store.migrate().await?;
        Ok(store)
    }
}

/// For a test that only means something on one backend: true (and a loud line on stderr) when the
/// database is the other one, so that the test returns at once. `scripts/test` also filters such
/// tests out by name (`on_postgres_…`, `on_sqlite_…`), so that the runner counts them as skipped.
pub fn skip_unless(db: &TestDb, postgres: bool, test: &str) -> bool {
    if db.is_postgres() == postgres {
        return false;
    }
    let (want, have) = if postgres {
        ("PostgreSQL", "SQLite")
    } else {
        ("SQLite", "PostgreSQL")
    };
    eprintln!("SKIPPED {test}: needs {want}, running on {have} (scripts/test runs both)");
    true
}

/// An event sink that records deliveries and can be made unavailable.
#[derive(Default, Clone)]
pub struct RecordingSink {
    down: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<OutboxEvent>>>,
    refused: Arc<Mutex<usize>>,
}

impl RecordingSink {
    /// Makes the sink fail (`true`) or accept (`false`) batches.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Events accepted so far, in delivery order.
    pub fn received(&self) -> Vec<OutboxEvent> {
        self.received.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Batches refused while down.
    pub fn refused(&self) -> usize {
        self.refused.lock().map(|v| *v).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl EventSink for RecordingSink {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        if self.down.load(Ordering::SeqCst) {
            if let Ok(mut r) = self.refused.lock() {
                *r += 1;
            }
            return Err(SinkError("sink is down".into()));
        }
        if let Ok(mut v) = self.received.lock() {
            v.extend_from_slice(events);
        }
        Ok(())
    }
}

/// A clock tests set and advance by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock showing `now` (microseconds since the epoch).
    pub fn at(now: netorch_core::Micros) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self(std::sync::atomic::AtomicI64::new(now)))
    }

    /// Sets the time.
    pub fn set(&self, now: netorch_core::Micros) {
        self.0.store(now, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(
            by.as_micros() as netorch_core::Micros,
            std::sync::atomic::Ordering::SeqCst,
        );
    }
}

impl netorch_core::Clock for ManualClock {
    fn now(&self) -> netorch_core::Micros {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
