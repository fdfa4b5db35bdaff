//! The scheduler against a real store (SQLite, or PostgreSQL with NETORCH_TEST_DATABASE_URL).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use netorch_core::{
    Clock, SystemClock,
    jobs::{JobRepository, JobState, NewJob},
    tenancy::ProjectScope,
};
use netorch_scheduler::{
    JobContext, JobError, JobHandler, PeriodicSpec, Schedule, Scheduler, SchedulerConfig,
};
use netorch_store::Store;
use netorch_test_support::TestDb;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn cfg() -> SchedulerConfig {
    SchedulerConfig {
        concurrency: 4,
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_millis(600),
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        shutdown_grace: Duration::from_millis(100),
    }
}

fn job(kind: &str, max_attempts: i64) -> NewJob {
    NewJob {
        kind: kind.into(),
        project_id: Some("p1".into()),
        payload: json!({"n": 1}),
        max_attempts,
        run_at: 0,
        dedupe_key: None,
    }
}

async fn wait_for_state(store: &Store, id: &str, state: JobState) -> netorch_core::jobs::Job {
    for _ in 0..1000 {
        let j = store.get_job(id).await.expect("get").expect("job");
        if j.state == state {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} never reached {state:?}");
}

/// Fails `failures` times, then succeeds.
struct Flaky {
    failures: usize,
    calls: AtomicUsize,
}

#[async_trait]
impl JobHandler for Flaky {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        ctx.progress(&format!("attempt {}", n + 1)).await;
        if n < self.failures {
            Err(JobError::Retry(format!("failure {}", n + 1)))
        } else {
            Ok(json!({"attempts": n + 1}))
        }
    }
}

fn start(s: Scheduler) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let c = CancellationToken::new();
    let h = tokio::spawn(s.run(c.clone()));
    (c, h)
}

#[tokio::test]
async fn a_failing_job_is_retried_with_backoff_until_it_succeeds() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let mut s = Scheduler::new(Arc::new(store.clone()), Arc::new(SystemClock), cfg());
    s.register(
        "flaky",
        Arc::new(Flaky {
            failures: 2,
            calls: AtomicUsize::new(0),
        }),
    );
    let j = store
        .enqueue(&job("flaky", 5), SystemClock.now())
        .await
        .expect("enqueue");
    let (c, h) = start(s);
    let done = wait_for_state(&store, &j.id, JobState::Succeeded).await;
    c.cancel();
    h.await.expect("scheduler");
    assert_eq!(done.attempts, 3);
    assert_eq!(done.result, Some(json!({"attempts": 3})));
    assert_eq!(done.progress.as_deref(), Some("attempt 3"));
}

#[tokio::test]
async fn a_job_that_keeps_failing_ends_failed_with_its_last_error() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let mut s = Scheduler::new(Arc::new(store.clone()), Arc::new(SystemClock), cfg());
    s.register(
        "flaky",
        Arc::new(Flaky {
            failures: 100,
            calls: AtomicUsize::new(0),
        }),
    );
    let j = store
        .enqueue(&job("flaky", 3), SystemClock.now())
        .await
        .expect("enqueue");
    let (c, h) = start(s);
    let failed = wait_for_state(&store, &j.id, JobState::Failed).await;
    c.cancel();
    h.await.expect("scheduler");
    assert_eq!(failed.attempts, 3);
    assert_eq!(failed.last_error.as_deref(), Some("failure 3"));
}

/// Signals that it started, then never finishes.
struct Hang(Arc<tokio::sync::Notify>);

#[async_trait]
impl JobHandler for Hang {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        self.0.notify_one();
        std::future::pending::<()>().await;
        Ok(Value::Null)
    }
}

#[test]
fn a_job_interrupted_by_a_crash_runs_again_after_restart() {
    let db = tokio::runtime::Runtime::new()
        .expect("rt")
        .block_on(TestDb::new())
        .expect("db");
    // First "process": its own runtime, killed without any cleanup once the job is running.
    let crashed = tokio::runtime::Runtime::new().expect("rt");
    let (job_id, pending_id) = crashed.block_on(async {
        let store = db.store().await.expect("store");
        let started = Arc::new(tokio::sync::Notify::new());
        let mut s = Scheduler::new(Arc::new(store.clone()), Arc::new(SystemClock), cfg());
        s.register("work", Arc::new(Hang(started.clone())));
        let j = store
            .enqueue(&job("work", 3), SystemClock.now())
            .await
            .expect("enqueue");
        let mut later = job("work", 3);
        later.run_at = SystemClock.now() + 3_600_000_000;
        let pending = store
            .enqueue(&later, SystemClock.now())
            .await
            .expect("enqueue");
        tokio::spawn(s.run(CancellationToken::new()));
        started.notified().await;
        (j.id, pending.id)
    });
    crashed.shutdown_background(); // like kill -9: no lease released, no shutdown code ran

    // Second "process": a new store connection and scheduler on the same database.
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async {
        let store = db.store().await.expect("store");
        let j = store.get_job(&job_id).await.expect("get").expect("job");
        assert_eq!(
            j.state,
            JobState::Running,
            "the crashed worker still holds it"
        );
        let mut s = Scheduler::new(Arc::new(store.clone()), Arc::new(SystemClock), cfg());
        s.register(
            "work",
            Arc::new(Flaky {
                failures: 0,
                calls: AtomicUsize::new(0),
            }),
        );
        let (c, h) = start(s);
        let done = wait_for_state(&store, &job_id, JobState::Succeeded).await;
        c.cancel();
        h.await.expect("scheduler");
        assert_eq!(done.attempts, 2, "the interrupted attempt counts");
        let p = store
            .get_job(&pending_id)
            .await
            .expect("get")
            .expect("pending job survived");
        assert_eq!((p.state, p.attempts), (JobState::Queued, 0));
    });
}

#[tokio::test]
async fn a_graceful_shutdown_hands_running_jobs_back_to_the_queue() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let started = Arc::new(tokio::sync::Notify::new());
    let mut s = Scheduler::new(Arc::new(store.clone()), Arc::new(SystemClock), cfg());
    s.register("work", Arc::new(Hang(started.clone())));
    let j = store
        .enqueue(&job("work", 3), SystemClock.now())
        .await
        .expect("enqueue");
    let (c, h) = start(s);
    started.notified().await;
    c.cancel();
    h.await.expect("scheduler");
    let back = store.get_job(&j.id).await.expect("get").expect("job");
    assert_eq!(
        (back.state, back.attempts, back.lease_owner),
        (JobState::Queued, 0, None)
    );
}

/// Records which jobs it ran.
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl JobHandler for Recorder {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        tokio::time::sleep(Duration::from_millis(2)).await;
        if let Ok(mut v) = self.0.lock() {
            v.push(ctx.job.id.clone());
        }
        Ok(Value::Null)
    }
}

#[tokio::test]
async fn two_replicas_never_run_one_job_twice() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(
            store
                .enqueue(&job("rec", 1), SystemClock.now())
                .await
                .expect("enqueue")
                .id,
        );
    }
    let mut handles = Vec::new();
    for _ in 0..2 {
        // Each replica has its own connection pool, as two processes would.
        let own = db.store().await.expect("store");
        let mut s = Scheduler::new(Arc::new(own), Arc::new(SystemClock), cfg());
        s.register("rec", Arc::new(Recorder(ran.clone())));
        handles.push(start(s));
    }
    for id in &ids {
        wait_for_state(&store, id, JobState::Succeeded).await;
    }
    for (c, h) in handles {
        c.cancel();
        h.await.expect("scheduler");
    }
    let mut all = ran.lock().expect("lock").clone();
    assert_eq!(all.len(), 40, "each job ran exactly once");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40);
}

#[tokio::test]
async fn periodic_tasks_enqueue_one_job_per_tick_even_with_two_replicas() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for _ in 0..2 {
        let own = db.store().await.expect("store");
        let mut s = Scheduler::new(Arc::new(own), Arc::new(SystemClock), cfg());
        s.register("tick", Arc::new(Recorder(ran.clone())));
        s.add_periodic(PeriodicSpec {
            name: "tick".into(),
            schedule: Schedule::Every(Duration::from_millis(50)),
            payload: json!({}),
        });
        handles.push(start(s));
    }
    for _ in 0..500 {
        if ran.lock().expect("lock").len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (c, h) in handles {
        c.cancel();
        h.await.expect("scheduler");
    }
    let jobs = store
        .list_jobs(&ProjectScope::All, Some("tick"), 1000)
        .await
        .expect("list");
    assert!(jobs.len() >= 4, "ticks happened");
    let mut keys: Vec<_> = jobs.iter().map(|j| j.dedupe_key.clone()).collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "one job per tick");
    let ran = ran.lock().expect("lock").clone();
    let finished = jobs
        .iter()
        .filter(|j| j.state == JobState::Succeeded)
        .count();
    assert_eq!(ran.len(), finished, "each tick's job ran once");
}

#[tokio::test]
async fn a_periodic_task_whose_schedule_was_shortened_runs_on_the_new_schedule_at_once() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    // An earlier configuration stored the next run a year away.
    let year = 365 * 24 * 3600 * 1_000_000;
    store
        .ensure_periodic("tick", SystemClock.now() + year)
        .await
        .expect("stored");
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut s = Scheduler::new(Arc::new(store.clone()), Arc::new(SystemClock), cfg());
    s.register("tick", Arc::new(Recorder(ran.clone())));
    s.add_periodic(PeriodicSpec {
        name: "tick".into(),
        schedule: Schedule::Every(Duration::from_millis(50)),
        payload: json!({}),
    });
    let (c, h) = start(s);
    for _ in 0..500 {
        if ran.lock().expect("lock").len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c.cancel();
    h.await.expect("scheduler");
    assert!(
        ran.lock().expect("lock").len() >= 2,
        "ran on the new schedule"
    );
    let row = store.list_periodic().await.expect("list");
    assert!(row[0].next_run_at < SystemClock.now() + year / 2, "{row:?}");
}
