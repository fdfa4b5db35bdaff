//! Wiring: store, identity, events, scheduler and the HTTP application.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use axum::{Router, extract::DefaultBodyLimit, http::StatusCode};
use netorch_auth::{
    AuthConfig, IdentityService, PermissionCatalog,
    jwt::{KeyRing, KeyRingConfig, KeySource, TokenVerifier, TrustedIssuer},
    password::PasswordPolicy,
};
use netorch_core::{
    Clock, SystemClock, connectivity::ConnectivityRepository, events::EventSink,
    identity::IdentityRepository, jobs::JobRepository,
};
use netorch_events::{InProcessBus, Relay, RelayConfig};
use netorch_scheduler::{
    JobContext, JobError, JobHandler, PeriodicSpec, Schedule, Scheduler, SchedulerConfig,
};
use netorch_store::{Backend, Store, StoreOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::Layer as _;
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer};

use crate::{config::Config, metrics::Metrics};

/// Everything a running server holds.
pub struct App {
    /// The HTTP application.
    pub router: Router,
    /// The store.
    pub store: Store,
    /// Identity use-cases.
    pub identity: Arc<IdentityService>,
    /// The in-process event bus (subscribe to observe events).
    pub bus: InProcessBus,
    relay: Relay,
    scheduler: Option<Scheduler>,
    netconf: Arc<netorch_netconf::Pool>,
    leadership: crate::leader::Leadership,
    management: Router,
    _lock: Option<std::fs::File>,
}

/// Parses `auth.token_purge`: a duration (`1h`) or a cron expression.
pub fn purge_schedule(s: &str) -> anyhow::Result<Schedule> {
    schedule("auth.token_purge", s)
}

/// A schedule setting: a duration (at least 100 ms) or a cron expression (UTC).
pub fn schedule(key: &str, s: &str) -> anyhow::Result<Schedule> {
    match humantime_serde::re::humantime::parse_duration(s) {
        Ok(d) => {
            anyhow::ensure!(
                d >= Duration::from_millis(100),
                "{key} must be at least 100ms"
            );
            Ok(Schedule::Every(d))
        }
        Err(_) => Schedule::cron(s).map_err(|e| anyhow::anyhow!("{key}: {e}")),
    }
}

/// Opens the store (and, for SQLite, takes the data directory's lock so that a second server on the
/// same file fails fast instead of corrupting job leases).
pub async fn open_store(cfg: &Config) -> anyhow::Result<(Store, Option<std::fs::File>)> {
    open_store_with(cfg, true).await
}

/// Opens the store beside a running server (no data-dir lock): for short commands that only read,
/// or write through SQLite's own locking (minting development tokens).
pub async fn open_store_shared(cfg: &Config) -> anyhow::Result<Store> {
    Ok(open_store_with(cfg, false).await?.0)
}

async fn open_store_with(
    cfg: &Config,
    take_lock: bool,
) -> anyhow::Result<(Store, Option<std::fs::File>)> {
    let url = cfg.database_url();
    let mut lock = None;
    if take_lock && Backend::from_url(&url) == Some(Backend::Sqlite) {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(cfg.data_dir.join("netorch.lock"))
            .context("opening the data dir lock")?;
        f.try_lock().map_err(|_| {
            anyhow::anyhow!(
                "another netorch process uses data dir {}; SQLite supports one server (use PostgreSQL for replicas)",
                cfg.data_dir.display()
            )
        })?;
        lock = Some(f);
    }
    let store = Store::connect(
        &url,
        &StoreOptions {
            max_connections: cfg.database.max_connections,
            ..Default::default()
        },
    )
    .await
    .with_context(|| {
        format!(
            "connecting to the database {}",
            netorch_store::redact_url(&url)
        )
    })?;
    Ok((store, lock))
}

/// The DMI family's dependencies: a NETCONF pool and model cache under the data directory.
fn dmi_deps(
    cfg: &Config,
    store: &Store,
    secrets: &netorch_auth::secrets::SecretBox,
    identity: Arc<IdentityService>,
    clock: Arc<dyn Clock>,
    job_waker: &Arc<tokio::sync::Notify>,
) -> netorch_api_dmi::Deps {
    let d = &cfg.dmi;
    let state_dir = cfg.data_dir.join("netconf");
    let pool = netorch_netconf::Pool::new(netorch_netconf::PoolConfig {
        connect_timeout: d.connect_timeout,
        rpc_timeout: d.rpc_timeout,
        max_sessions: d.sessions_per_device.max(1),
        idle_timeout: d.idle_timeout,
        backoff_initial: Duration::from_millis(500).min(d.reconnect_max),
        backoff_max: d.reconnect_max,
        state_dir: state_dir.clone(),
    });
    let plugin_id = d.plugin_id.clone().unwrap_or_else(|| {
        let scheme = if cfg.server.tls.enabled {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", cfg.server.listen)
    });
    netorch_api_dmi::Deps {
        identity,
        records: Arc::new(store.clone()),
        secrets: secrets.clone(),
        clock,
        outbox: Arc::new(store.clone()),
        jobs: Arc::new(store.clone()),
        job_waker: job_waker.clone(),
        pool: Arc::new(pool),
        models: Arc::new(netorch_netconf::ModelCache::new(state_dir.join("models"))),
        config: netorch_api_dmi::DmiConfig {
            plugin_id,
            async_topic: d.async_topic.clone(),
            inventory_topic: d.inventory_topic.clone(),
            async_timeout: d.async_timeout,
            max_batch: d.max_batch.max(1),
            sync_retry: d.sync_retry,
            sync_retry_max: d.sync_retry_max,
            ncmp_url: d.ncmp_url.clone(),
            ncmp_credentials: d
                .ncmp_username
                .clone()
                .map(|u| (u, d.ncmp_password.clone().unwrap_or_default())),
            ncmp_batch: d.ncmp_batch.max(1),
            ..Default::default()
        },
    }
}

/// The permission catalog of every mounted family.
pub fn catalog() -> PermissionCatalog {
    PermissionCatalog::new(
        netorch_api_admin::permissions::OSM_PERMISSIONS
            .iter()
            .chain(netorch_api_oof::PERMISSIONS)
            .chain(netorch_api_dmi::PERMISSIONS),
    )
}

/// Identity settings from the configuration.
pub fn auth_config(cfg: &Config) -> AuthConfig {
    AuthConfig {
        token_ttl: cfg.auth.token_ttl,
        token_cache_ttl: cfg.auth.token_cache_ttl,
        throttle_window: cfg.auth.throttle_window,
        throttle_delay: cfg.auth.throttle_delay,
        password_policy: PasswordPolicy {
            min_length: cfg.auth.password_min_length,
            require_mixed: cfg.auth.password_require_mixed,
        },
    }
}

struct PurgeTokens {
    repo: Arc<dyn IdentityRepository>,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl JobHandler for PurgeTokens {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        let n = self
            .repo
            .purge_expired_tokens(self.clock.now())
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        Ok(json!({"purged": n}))
    }
}

/// Where packages live: a directory, or an S3 bucket checked with one request (a wrong
/// bucket, endpoint or credentials stop start-up with the reason).
async fn package_storage(cfg: &Config) -> anyhow::Result<Arc<dyn netorch_core::blobs::BlobStore>> {
    if let Some(s3) = &cfg.osm.package_s3 {
        let store = netorch_store::S3BlobStore::new(&netorch_store::S3Location {
            bucket: s3.bucket.clone(),
            prefix: s3.prefix.clone(),
            region: s3.region.clone(),
            endpoint: s3.endpoint.clone(),
            credentials: None,
        })
        .map_err(|e| anyhow::anyhow!("osm.package_s3: {e}"))?;
        store
            .check()
            .await
            .map_err(|e| anyhow::anyhow!("osm.package_s3 (bucket '{}'): {e}", s3.bucket))?;
        return Ok(Arc::new(store));
    }
    let dir = cfg
        .osm
        .package_dir
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("packages"));
    Ok(Arc::new(
        netorch_store::FsBlobStore::new(dir)
            .map_err(|e| anyhow::anyhow!("package storage: {e}"))?,
    ))
}

/// Refuses a sealing key other than the one the database's secrets were sealed with (the first
/// start pins its fingerprint): a replica with another key would write secrets nobody else can
/// read, and fail to read theirs.
async fn check_sealing_key(
    store: &Store,
    secrets: &netorch_auth::secrets::SecretBox,
    now: netorch_core::Micros,
) -> anyhow::Result<()> {
    let pinned = store
        .pin_setting("sealing_key_fingerprint", secrets.fingerprint(), now)
        .await
        .context("reading the sealing key's fingerprint from the database")?;
    anyhow::ensure!(
        pinned == secrets.fingerprint(),
        "the sealing key (osm.secret_key / osm.secret_key_file, or <data_dir>/secret.key) has \
         fingerprint {} but this database's secrets were sealed with the key of fingerprint \
         {pinned}: give every replica the same key (refusing to start rather than write secrets \
         the others cannot read)",
        secrets.fingerprint()
    );
    Ok(())
}

/// The key sealing secrets at rest: configured, from a file, or generated once in the data dir.
pub fn secret_box(cfg: &Config) -> anyhow::Result<netorch_auth::secrets::SecretBox> {
    use netorch_auth::secrets::SecretBox;
    let text = match (&cfg.osm.secret_key, &cfg.osm.secret_key_file) {
        (Some(k), _) => k.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("reading osm.secret_key_file {}", f.display()))?,
        (None, None) => {
            let path = cfg.data_dir.join("secret.key");
            if !path.exists() {
                std::fs::create_dir_all(&cfg.data_dir)?;
                write_private(&path, SecretBox::generate_key().as_bytes())?;
                tracing::warn!(path = %path.display(), "generated the key that seals account passwords; back it up with the database");
            }
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
        }
    };
    SecretBox::from_base64(&text).map_err(|e| anyhow::anyhow!("osm secret key: {e}"))
}

/// The `iss` of tokens minted by netorch's development issuer.
pub fn local_issuer(cfg: &Config) -> String {
    format!("{}/local-issuer", cfg.slices.public_url(&cfg.server))
}

fn local_issuer_ring(
    cfg: &Config,
    store: &Store,
    secrets: &netorch_auth::secrets::SecretBox,
    clock: Arc<dyn Clock>,
) -> Arc<KeyRing> {
    Arc::new(KeyRing::new(
        Arc::new(store.clone()),
        secrets.clone(),
        clock,
        KeyRingConfig {
            purpose: netorch_api_slices::LOCAL_ISSUER_KEYS.into(),
            rotate_after: Duration::from_secs(10 * 365 * 24 * 3600),
            activation_delay: Duration::ZERO,
            token_ttl: cfg.slices.response_token_ttl,
        },
    ))
}

/// What `netorch token slices` mints.
#[derive(Debug, Clone)]
pub struct DevTokenRequest {
    /// Experiment id (`sub` of the experiment token).
    pub experiment: String,
    /// Role in the experiment.
    pub role: String,
    /// User id (`sub` of the user token).
    pub user: String,
    /// When the experiment ends.
    pub experiment_expires: Duration,
    /// Token lifetime.
    pub ttl: Duration,
}

fn set_path(v: &mut Value, path: &str, value: Value) {
    let mut cur = v;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            cur[*p] = value;
            return;
        }
        if !cur[*p].is_object() {
            cur[*p] = json!({});
        }
        cur = &mut cur[*p];
    }
}

/// Mints a user token and an experiment token with netorch's development issuer (the key lives in
/// the store, sealed like account passwords). Only for development and tests.
pub async fn mint_dev_tokens(
    cfg: &Config,
    store: &Store,
    req: &DevTokenRequest,
) -> anyhow::Result<(String, String)> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ring = local_issuer_ring(cfg, store, &secret_box(cfg)?, clock.clone());
    let now = clock.now() / 1_000_000;
    let iss = local_issuer(cfg);
    let aud = cfg.slices.public_url(&cfg.server);
    let exp = now + req.ttl.as_secs() as i64;
    let user = json!({"iss": iss, "aud": aud, "sub": req.user, "iat": now, "exp": exp,
        "scope": "openid userinfo projects"});
    let mut experiment = json!({"iss": iss, "aud": aud, "iat": now, "exp": exp});
    let c = &cfg.slices.claims;
    set_path(&mut experiment, &c.experiment, json!(req.experiment));
    set_path(
        &mut experiment,
        &c.expires,
        json!(now + req.experiment_expires.as_secs() as i64),
    );
    set_path(
        &mut experiment,
        &c.role,
        json!(req.role.to_ascii_uppercase()),
    );
    set_path(&mut experiment, &c.user, json!(req.user));
    let sign = |v: Value| {
        let ring = ring.clone();
        async move { ring.sign(&v).await.map_err(|e| anyhow::anyhow!("{e}")) }
    };
    Ok((sign(user).await?, sign(experiment).await?))
}

/// Loads the topology that seeds an empty store.
pub fn topology(cfg: &Config) -> anyhow::Result<netorch_api_slices::topology::Topology> {
    match &cfg.slices.topology_file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading slices.topology_file {}", f.display()))?;
            netorch_api_slices::topology::parse(&text, crate::config::is_yaml(f))
                .map_err(|e| anyhow::anyhow!("slices.topology_file {}: {e}", f.display()))
        }
        None => netorch_api_slices::topology::parse(
            netorch_api_slices::topology::DEFAULT_TOPOLOGY,
            false,
        )
        .map_err(|e| anyhow::anyhow!("default topology: {e}")),
    }
}

impl App {
    /// Connects, migrates, bootstraps identity and assembles the router and background tasks.
    pub async fn build(cfg: &Config) -> anyhow::Result<Self> {
        Self::build_with_clock(cfg, Arc::new(SystemClock)).await
    }

    /// Same as [`App::build`] with an injected clock (tests replay dated examples).
    pub async fn build_with_clock(cfg: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // TLS clients (peers, S3, callbacks) need rustls' provider before the first is built.
        crate::install_crypto();
        // Every configured file is read and checked before anything is created: a typo in a path
        // must not leave a migrated database, a bootstrapped admin or generated keys behind.
        let oof_files = read_oof_files(cfg)?;
        let topology = topology(cfg)?;
        if cfg.osm.secret_key.is_some() || cfg.osm.secret_key_file.is_some() {
            secret_box(cfg)?;
        }
        let blobs = package_storage(cfg).await?;
        let (store, lock) = open_store(cfg).await?;
        if cfg.database.migrate_on_start {
            store.migrate().await.context("applying migrations")?;
        }
        let secrets = secret_box(cfg)?;
        check_sealing_key(&store, &secrets, clock.now()).await?;
        let key_fingerprint = secrets.fingerprint().to_string();
        let identity = Arc::new(IdentityService::new(
            Arc::new(store.clone()),
            clock.clone(),
            auth_config(cfg),
            Arc::new(catalog()),
        ));
        let default_password = identity
            .bootstrap(&cfg.auth.admin_password)
            .await
            .map_err(|e| anyhow::anyhow!("identity bootstrap failed: {e}"))?;
        if default_password {
            tracing::warn!(
                "user 'admin' still has the default password 'admin': change it (netorch user passwd admin)"
            );
        }

        let bus = InProcessBus::default();
        let sink: Arc<dyn EventSink> = match cfg.events.sink.as_str() {
            #[cfg(feature = "kafka")]
            "kafka" => {
                let mut sink = netorch_events::kafka::KafkaSink::new(
                    cfg.events.kafka.brokers.clone(),
                    cfg.events.kafka.topic_prefix.clone(),
                    cfg.events.kafka.create_topics,
                );
                if let Some(mechanism) = &cfg.events.kafka.sasl_mechanism {
                    sink = sink.with_sasl(netorch_events::kafka::KafkaAuth {
                        mechanism: mechanism.clone(),
                        username: cfg.events.kafka.username.clone().unwrap_or_default(),
                        password: cfg.events.kafka.password.clone().unwrap_or_default(),
                    });
                }
                Arc::new(sink)
            }
            _ => Arc::new(bus.clone()),
        };
        let relay = Relay::new(
            Arc::new(store.clone()),
            sink,
            clock.clone(),
            store.outbox_wake(),
            RelayConfig {
                batch: cfg.events.batch,
                poll_interval: cfg.events.poll_interval,
                retention: cfg.events.retention,
                ..Default::default()
            },
        );

        let job_waker = Arc::new(tokio::sync::Notify::new());
        let tmf_deps = netorch_api_tmf::Deps {
            identity: identity.clone(),
            records: Arc::new(store.clone()),
            secrets: secrets.clone(),
            clock: clock.clone(),
            openslice_compat: cfg.tmf.openslice_compat,
            anonymous_catalog_reads: cfg.tmf.anonymous_catalog_reads,
            outbox: Arc::new(store.clone()),
            peer: netorch_api_tmf::peer::PeerClient::new(
                cfg.tmf.peer_timeout,
                cfg.tmf.peer_max_body,
                cfg.tmf.peer_attempts,
                Duration::from_millis(200),
            ),
            jobs: Arc::new(store.clone()),
            job_waker: job_waker.clone(),
            public_url: cfg.tmf.public_url.clone(),
            descriptors: Some(Arc::new(
                netorch_api_osm::catalog_source::OsmDescriptors::new(Arc::new(store.clone())),
            )),
        };
        let dmi_deps = dmi_deps(
            cfg,
            &store,
            &secrets,
            identity.clone(),
            clock.clone(),
            &job_waker,
        );
        let slices_deps = slices_deps(
            cfg,
            topology,
            &store,
            &secrets,
            identity.clone(),
            clock.clone(),
        )
        .await?;
        let oof_deps = netorch_api_oof::Deps {
            identity: identity.clone(),
            records: Arc::new(store.clone()),
            jobs: Arc::new(store.clone()),
            job_waker: job_waker.clone(),
            clock: clock.clone(),
            callback_auth: cfg
                .oof
                .callback_username
                .clone()
                .zip(cfg.oof.callback_password.clone()),
            callback_attempts: cfg.oof.callback_attempts,
            body_limit: 1024 * 1024,
            clouds: Some(Arc::new(VimInventory {
                records: Arc::new(store.clone()),
            })),
            sdnc: cfg
                .oof
                .sdnc_url
                .as_deref()
                .map(|url| {
                    netorch_api_oof::sdnc::Controller::new(
                        url,
                        cfg.oof
                            .sdnc_username
                            .clone()
                            .zip(cfg.oof.sdnc_password.clone()),
                        cfg.oof.sdnc_timeout,
                    )
                })
                .transpose()
                .context("oof.sdnc_url: HTTP client")?,
            solver: netorch_solver::Backend::parse(&cfg.oof.solver).map_err(anyhow::Error::msg)?,
        };
        store_oof_files(oof_files, &oof_deps).await?;
        let osm_deps = netorch_api_osm::Deps {
            identity: identity.clone(),
            records: Arc::new(store.clone()),
            jobs: Arc::new(store.clone()),
            job_waker: job_waker.clone(),
            clock: clock.clone(),
            secrets,
            allow_basic: cfg.auth.allow_basic,
            blobs: blobs.clone(),
            uploads: Arc::new(store.clone()),
            package_limits: netorch_api_osm::archive::Limits {
                max_total: cfg.osm.package_max_expanded,
                max_files: cfg.osm.package_max_files,
            },
            max_upload: cfg.osm.package_max_bytes,
            orphan_grace: cfg.osm.orphan_grace,
            cloud: Arc::new(netorch_cloud::Clouds::new(
                Arc::new(store.clone()),
                clock.clone(),
            )),
            primitives: Arc::new(
                netorch_cloud::WebhookExecutor::new()
                    .map_err(|e| anyhow::anyhow!("primitive executor: {e}"))?,
            ),
            connectivity: Arc::new(store.clone()),
            placer: Arc::new(netorch_api_oof::vim_placement::SolverVimPlacer::new(
                netorch_solver::Backend::parse(&cfg.oof.solver).map_err(anyhow::Error::msg)?,
            )),
        };
        let scheduler = cfg.scheduler.enabled.then(|| {
            let repo: Arc<dyn JobRepository> = Arc::new(store.clone());
            let mut s = Scheduler::new(
                repo,
                clock.clone(),
                SchedulerConfig {
                    concurrency: cfg.scheduler.concurrency,
                    poll_interval: cfg.scheduler.poll_interval,
                    lease: cfg.scheduler.lease,
                    shutdown_grace: cfg.server.shutdown_grace,
                    ..Default::default()
                },
            );
            s.register(
                "netorch.purge_tokens",
                Arc::new(PurgeTokens {
                    repo: Arc::new(store.clone()),
                    clock: clock.clone(),
                }),
            );
            s.register(
                netorch_scheduler::PRUNE_JOB,
                Arc::new(netorch_scheduler::PruneJobs {
                    repo: Arc::new(store.clone()),
                    clock: clock.clone(),
                    retention: cfg.scheduler.job_retention,
                }),
            );
            s.add_periodic(PeriodicSpec {
                name: netorch_scheduler::PRUNE_JOB.into(),
                schedule: Schedule::Every(
                    Duration::from_secs(3600)
                        .min(cfg.scheduler.job_retention.max(Duration::from_secs(1))),
                ),
                payload: json!({}),
            });
            for (kind, handler) in netorch_api_osm::job_handlers(&osm_deps) {
                s.register(kind, handler);
            }
            s.add_periodic(PeriodicSpec {
                name: netorch_api_osm::NOTIFY_JOB.into(),
                schedule: Schedule::Every(cfg.osm.notify_interval),
                payload: json!({}),
            });
            s.add_periodic(PeriodicSpec {
                name: netorch_api_osm::RECONCILE_JOB.into(),
                schedule: Schedule::Every(cfg.osm.reconcile_interval),
                payload: json!({}),
            });
            s.add_periodic(PeriodicSpec {
                name: netorch_api_osm::HOUSEKEEPING_JOB.into(),
                schedule: Schedule::Every(cfg.osm.housekeeping_interval),
                payload: json!({}),
            });
            for (kind, handler) in netorch_api_oof::job_handlers(&oof_deps) {
                s.register(kind, handler);
            }
            for (kind, handler) in netorch_api_slices::job_handlers(&slices_deps) {
                s.register(kind, handler);
            }
            for (kind, handler) in netorch_api_tmf::job_handlers(&tmf_deps) {
                s.register(kind, handler);
            }
            for (kind, handler) in netorch_api_dmi::job_handlers(&dmi_deps) {
                s.register(kind, handler);
            }
            s.add_periodic(PeriodicSpec {
                name: netorch_api_dmi::MODULE_SYNC_JOB.into(),
                schedule: Schedule::Every(cfg.dmi.sync_interval),
                payload: json!({}),
            });
            s.add_periodic(PeriodicSpec {
                name: netorch_api_tmf::DESCRIPTOR_SYNC_JOB.into(),
                schedule: Schedule::Every(cfg.tmf.notify_interval),
                payload: json!({}),
            });
            s.add_periodic(PeriodicSpec {
                name: netorch_api_tmf::HUB_NOTIFY_JOB.into(),
                schedule: Schedule::Every(cfg.tmf.notify_interval),
                payload: json!({}),
            });
            s.add_periodic(PeriodicSpec {
                name: netorch_api_tmf::peering::HEARTBEAT_JOB.into(),
                schedule: schedule("tmf.heartbeat_interval", &cfg.tmf.heartbeat_interval)
                    .unwrap_or(Schedule::Every(Duration::from_secs(300))),
                payload: json!({}),
            });
            s.add_periodic(PeriodicSpec {
                name: netorch_api_slices::EXPIRE_JOB.into(),
                schedule: Schedule::Every(cfg.slices.sweep_interval),
                payload: json!({}),
            });
            s.add_periodic(PeriodicSpec {
                name: netorch_api_slices::ROTATE_JOB.into(),
                schedule: Schedule::Every(Duration::from_secs(3600)),
                payload: json!({}),
            });
            s.set_waker(job_waker.clone());
            if let Ok(schedule) = purge_schedule(&cfg.auth.token_purge) {
                s.add_periodic(PeriodicSpec {
                    name: "netorch.purge_tokens".into(),
                    schedule,
                    payload: json!({}),
                });
            }
            s
        });

        let metrics = Metrics::new();
        let leader_gauge = metrics.leader.clone();
        let leadership = crate::leader::Leadership::new(
            store.clone(),
            clock.clone(),
            crate::leader::replica_id(cfg.server.replica_id.as_deref()),
            cfg.server.leader_lease,
            Arc::new(move |held| {
                leader_gauge.set(i64::from(held));
            }),
        );
        let mut scheduler = scheduler;
        if let Some(s) = scheduler.as_mut() {
            s.set_leader_gate(leadership.gate());
        }
        let (admin, admin_doc) = netorch_api_admin::router(netorch_api_admin::Deps {
            identity: identity.clone(),
            allow_basic: cfg.auth.allow_basic,
        });
        let (osm, osm_doc) = netorch_api_osm::router(osm_deps);
        let (slices, slices_doc) = netorch_api_slices::router(slices_deps);
        let (oof, oof_doc) = netorch_api_oof::router(oof_deps);
        let (tmf, tmf_doc) = netorch_api_tmf::router(tmf_deps);
        let netconf = dmi_deps.pool.clone();
        let (dmi, dmi_doc) = netorch_api_dmi::router(dmi_deps);
        let (system, management) = crate::system::router(
            store.clone(),
            metrics.clone(),
            crate::system::Probes {
                leadership: leadership.clone(),
                key_fingerprint,
                sink: cfg.events.sink.clone(),
                ready_max_lag: cfg.events.ready_max_lag,
                clock: clock.clone(),
            },
            [admin_doc, osm_doc, slices_doc, oof_doc, tmf_doc, dmi_doc],
        );
        let router = system
            .merge(admin)
            .merge(osm)
            .merge(slices)
            .merge(oof)
            .merge(tmf)
            .merge(dmi)
            // One `layer` call for the whole stack: axum wraps every route once per call, and each
            // wrapping is a boxed service cloned and a boxed future allocated on every request
            // (BENCHMARKS.md, issue 12). Outermost first: observation sees the 408s and 500s.
            .layer(
                tower::ServiceBuilder::new()
                    .layer(crate::observe::ObserveLayer::new(metrics.clone()))
                    .layer(CatchPanicLayer::new())
                    .layer(TimeoutLayer::with_status_code(
                        StatusCode::REQUEST_TIMEOUT,
                        cfg.server.request_timeout,
                    ))
                    .layer(DefaultBodyLimit::max(cfg.server.body_limit))
                    // The OSM families' documents, rendered in the format the request asks for.
                    .layer(netorch_http::osm::RenderLayer),
            );
        Ok(Self {
            router,
            store,
            identity,
            bus,
            relay,
            scheduler,
            netconf,
            leadership,
            management,
            _lock: lock,
        })
    }

    /// Serves on `listener` until `shutdown` fires: then drains HTTP, lets jobs finish or hands them
    /// back, flushes the outbox and closes the store — all within `server.shutdown_grace` of the
    /// signal, whatever is down: half of it for in-flight requests, the rest for the background
    /// work; what did not finish by then is left (jobs are taken over when their lease expires,
    /// undelivered events stay in the outbox).
    pub async fn serve(
        self,
        cfg: &Config,
        listener: std::net::TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let addr = listener.local_addr()?;
        let grace = cfg.server.shutdown_grace;
        let management = match &cfg.server.management_listen {
            Some(m) => Some(
                tokio::net::TcpListener::bind(m)
                    .await
                    .with_context(|| format!("cannot listen on server.management_listen {m}"))?,
            ),
            None => None,
        };
        let background = CancellationToken::new();
        let relay = tokio::spawn(self.relay.run(background.clone()));
        let scheduler = self
            .scheduler
            .map(|s| tokio::spawn(s.run(background.clone())));
        let leadership = tokio::spawn(self.leadership.clone().run(background.clone()));
        // When the signal came: every later step is timed from it.
        let signalled = Arc::new(std::sync::OnceLock::new());
        {
            let (stop, at) = (shutdown.clone(), signalled.clone());
            tokio::spawn(async move {
                stop.cancelled().await;
                let _ = at.set(tokio::time::Instant::now());
            });
        }
        let http_deadline = {
            let (stop, at) = (shutdown.clone(), signalled.clone());
            async move {
                stop.cancelled().await;
                let t0 = *at.get_or_init(tokio::time::Instant::now);
                tokio::time::sleep_until(t0 + grace / 2).await;
            }
        };
        let management_server = management.map(|l| {
            let local = l.local_addr().ok();
            tracing::info!(addr = ?local, "management listener (probes, metrics)");
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let _ = axum::serve(l, self.management)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
            })
        });
        let router = self.router;
        listener.set_nonblocking(true)?;
        let served = if cfg.server.tls.enabled {
            let (cert, key) = tls_files(cfg)?;
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .with_context(|| format!("loading TLS certificate {}", cert.display()))?;
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                h.graceful_shutdown(Some(grace / 2));
            });
            tracing::info!(%addr, "netorch listening (https)");
            let app = tower::util::MapRequestLayer::new(
                |req: axum::http::Request<hyper::body::Incoming>| {
                    trim_osm_trailing_slash(req.map(axum::body::Body::new))
                },
            )
            .layer(router);
            let app = axum::ServiceExt::<axum::http::Request<hyper::body::Incoming>>::into_make_service_with_connect_info::<SocketAddr>(app);
            let server = axum_server::from_tcp_rustls(listener, tls)
                .handle(handle)
                .serve(app);
            tokio::select! {
                r = server => r.map_err(anyhow::Error::from),
                _ = http_deadline => Ok(()),
            }
        } else {
            tracing::info!(%addr, "netorch listening (http)");
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let app = tower::util::MapRequestLayer::new(trim_osm_trailing_slash).layer(router);
            let app =
                axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                    SocketAddr,
                >(app);
            let server = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future();
            tokio::select! {
                r = server => r.map_err(anyhow::Error::from),
                // Requests still running at half the grace are cut off (their clients see the
                // connection close), so that the rest of the shutdown still fits in the grace.
                _ = http_deadline => {
                    tracing::warn!("requests still running at half the shutdown grace: closing their connections");
                    Ok(())
                }
            }
        };
        if let Err(e) = served {
            background.cancel();
            return Err(e);
        }
        let t0 = *signalled.get_or_init(tokio::time::Instant::now);
        let deadline = t0 + grace.mul_f64(0.9);
        tracing::info!("http drained; stopping background tasks");
        background.cancel();
        let store = self.store.clone();
        let netconf = self.netconf.clone();
        let rest = async move {
            let _ = leadership.await;
            if let Some(s) = scheduler {
                let _ = s.await;
            }
            let _ = relay.await;
            netconf.close_all().await;
            store.close().await;
        };
        if tokio::time::timeout_at(deadline, rest).await.is_err() {
            tracing::warn!(
                grace = ?grace,
                "background work did not stop within the shutdown grace (is the database down?): leaving it; jobs are taken over when their lease expires, undelivered events stay in the outbox"
            );
        }
        if let Some(m) = management_server {
            m.abort();
        }
        tracing::info!("netorch stopped");
        Ok(())
    }
}

/// The OSM family's enabled VIM accounts as placement candidates (the OOF family sees only the
/// `CloudInventory` port). From the account: `cloud-region-id` = its name, `cloud-owner` =
/// `config.cloud_owner` (default `netorch`), `cloud-type` = `vim_type`, the site from
/// `config.location` (`site`, `latitude`, `longitude`, `country`), `attributes` = `config.capacity`
/// plus `vim_account_id`. The VNFs of READY NS instances are its service instances.
pub struct VimInventory {
    records: Arc<dyn netorch_core::tenancy::RecordRepository>,
}

impl VimInventory {
    /// An inventory over the OSM family's records.
    pub fn new(records: Arc<dyn netorch_core::tenancy::RecordRepository>) -> Self {
        Self { records }
    }
}

#[async_trait]
impl netorch_core::placement::CloudInventory for VimInventory {
    async fn cloud_regions(&self) -> Result<Vec<Value>, netorch_core::StoreError> {
        let all = self
            .records
            .list_records("vim_accounts", &netorch_core::tenancy::ProjectScope::All)
            .await?;
        Ok(all
            .into_iter()
            .filter(|r| r.body["_admin"]["operationalState"] == "ENABLED")
            .map(|r| {
                let b = &r.body;
                let loc = &b["config"]["location"];
                let site = loc["site"].as_str().or(b["name"].as_str()).unwrap_or_default();
                let mut attributes = b["config"]["capacity"].as_object().cloned().unwrap_or_default();
                attributes.insert("vim_account_id".into(), json!(r.id));
                json!({
                    "cloud-owner": b["config"]["cloud_owner"].as_str().unwrap_or("netorch"),
                    "cloud-region-id": b["name"],
                    "cloud-type": b["vim_type"],
                    "cloud-region-version": b["config"]["version"].as_str().or(b["vim_type"].as_str()).unwrap_or_default(),
                    "complex": {
                        "physical-location-id": site,
                        "complex-name": site,
                        "latitude": loc["latitude"],
                        "longitude": loc["longitude"],
                        "country": loc["country"].as_str().unwrap_or_default(),
                    },
                    "attributes": attributes,
                })
            })
            .collect())
    }

    /// Every VNF of a READY NS instance, as A&AI would list a service instance with one VNF:
    /// `service-instance-id`/`vnf-id` = the VNFR id, `service-type`/`model-invariant-id` = the NSD
    /// id, `vnf-type`/`model-version-id` = the VNFD id, the VIM as cloud region, the owning project
    /// as customer.
    async fn service_instances(&self) -> Result<Vec<Value>, netorch_core::StoreError> {
        use netorch_core::tenancy::ProjectScope;
        let nsrs = self
            .records
            .list_records("nsrs", &ProjectScope::All)
            .await?;
        let vnfrs = self
            .records
            .list_records("vnfrs", &ProjectScope::All)
            .await?;
        let vims = self
            .records
            .list_records("vim_accounts", &ProjectScope::All)
            .await?;
        let mut out = Vec::new();
        for ns in nsrs.iter().filter(|n| n.body["nsState"] == "READY") {
            for v in vnfrs
                .iter()
                .filter(|v| v.body["nsr-id-ref"].as_str() == Some(ns.id.as_str()))
            {
                let vim = vims
                    .iter()
                    .find(|a| v.body["vim-account-id"].as_str() == Some(a.id.as_str()));
                let member = v.body["member-vnf-index-ref"].as_str().unwrap_or_default();
                out.push(json!({
                    "service-instance-id": v.id,
                    "global-customer-id": ns.owners.read.first().cloned().unwrap_or_default(),
                    "service-type": ns.body["nsd-ref"],
                    "vnf-id": v.id,
                    "vnf-name": format!("{}-{member}", ns.body["name"].as_str().unwrap_or_default()),
                    "vnf-type": v.body["vnfd-ref"],
                    "model-invariant-id": ns.body["nsd-ref"],
                    "model-version-id": v.body["vnfd-ref"],
                    "equipment-role": "",
                    "prov-status": "PROV",
                    "orchestration-status": "Active",
                    "cloud-owner": vim.and_then(|a| a.body["config"]["cloud_owner"].as_str()).unwrap_or("netorch"),
                    "cloud-region-id": vim.map(|a| a.body["name"].clone()).unwrap_or_default(),
                    "attributes": {"ns_instance_id": ns.id, "member-vnf-index": member,
                                   "ip-address": v.body["ip-address"]},
                }));
            }
        }
        Ok(out)
    }
}

/// Loads the OOF policy directory and inventory file into the store.
/// The OOF policy directory and inventory file, read and checked.
struct OofFiles {
    policies: Vec<netorch_api_oof::policy::Policy>,
    inventory: Option<netorch_api_oof::inventory::Inventory>,
}

fn read_oof_files(cfg: &Config) -> anyhow::Result<OofFiles> {
    let mut policies = Vec::new();
    if let Some(dir) = &cfg.oof.policy_dir {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading oof.policy_dir {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f)
                .with_context(|| format!("reading policy file {}", f.display()))?;
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("policy file {}", f.display()))?;
            policies.extend(
                netorch_api_oof::policy::parse_policies(&v)
                    .map_err(|e| anyhow::anyhow!("policy file {}: {e}", f.display()))?,
            );
        }
    }
    let inventory = match &cfg.oof.inventory_file {
        None => None,
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading oof.inventory_file {}", f.display()))?;
            let inv: netorch_api_oof::inventory::Inventory = serde_json::from_str(&text)
                .with_context(|| format!("oof.inventory_file {}", f.display()))?;
            inv.validate().map_err(|(path, message)| {
                anyhow::anyhow!("oof.inventory_file {} at {path}: {message}", f.display())
            })?;
            Some(inv)
        }
    };
    Ok(OofFiles {
        policies,
        inventory,
    })
}

async fn store_oof_files(files: OofFiles, deps: &netorch_api_oof::Deps) -> anyhow::Result<()> {
    let n = files.policies.len();
    for p in files.policies {
        netorch_api_oof::store_policy(deps, &p)
            .await
            .map_err(|e| anyhow::anyhow!("storing policy {}: {e}", p.id))?;
    }
    if n > 0 {
        tracing::info!(policies = n, "loaded OOF policies");
    }
    if let Some(inv) = files.inventory {
        netorch_api_oof::store_inventory(deps, &inv)
            .await
            .map_err(|e| anyhow::anyhow!("storing the OOF inventory: {e}"))?;
        tracing::info!(regions = inv.cloud_region.len(), "loaded the OOF inventory");
    }
    Ok(())
}

/// The SLICES family's dependencies: key rings, trusted issuers, seeded topology.
async fn slices_deps(
    cfg: &Config,
    t: netorch_api_slices::topology::Topology,
    store: &Store,
    secrets: &netorch_auth::secrets::SecretBox,
    identity: Arc<IdentityService>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<netorch_api_slices::Deps> {
    let public_url = cfg.slices.public_url(&cfg.server);
    if ConnectivityRepository::seed_topology(store, &t.sites, &t.links)
        .await
        .map_err(|e| anyhow::anyhow!("seeding the SLICES topology: {e}"))?
    {
        tracing::info!(
            sites = t.sites.len(),
            links = t.links.len(),
            "seeded the SLICES topology"
        );
    }
    let response_keys = Arc::new(KeyRing::new(
        Arc::new(store.clone()),
        secrets.clone(),
        clock.clone(),
        KeyRingConfig {
            purpose: netorch_api_slices::RESPONSE_KEYS.into(),
            rotate_after: cfg.slices.key_rotation,
            // Replicas re-read keys every 30 s and clients cache the JWKS for 5 minutes: a new key
            // is published that long before it signs.
            activation_delay: Duration::from_secs(330),
            token_ttl: cfg.slices.response_token_ttl,
        },
    ));
    let mut issuers = Vec::new();
    if cfg.slices.local_issuer {
        let ring = local_issuer_ring(cfg, store, secrets, clock.clone());
        // Created now, so that `netorch token slices` beside a running server only reads it.
        ring.decoding_keys(false)
            .await
            .map_err(|e| anyhow::anyhow!("development issuer key: {e}"))?;
        issuers.push(TrustedIssuer {
            issuer: local_issuer(cfg),
            audiences: vec![public_url.clone()],
            keys: KeySource::Ring(ring),
        });
    }
    for i in &cfg.slices.issuers {
        issuers.push(TrustedIssuer {
            issuer: i.issuer.clone(),
            audiences: i.audiences.clone(),
            keys: match (&i.jwks_url, &i.jwks_file) {
                (Some(u), _) => KeySource::Url(u.clone()),
                (None, Some(f)) => KeySource::File(f.clone()),
                (None, None) => anyhow::bail!("slices.issuers '{}' has no keys", i.issuer),
            },
        });
    }
    Ok(netorch_api_slices::Deps {
        repo: Arc::new(store.clone()),
        identity,
        verifier: Arc::new(TokenVerifier::new(
            issuers,
            cfg.slices.token_leeway,
            cfg.slices.jwks_cache_ttl,
        )),
        response_keys,
        clock,
        rules: netorch_api_slices::service::Rules {
            min_duration: cfg.slices.min_duration,
            past_tolerance: cfg.slices.past_tolerance,
        },
        claims: netorch_api_slices::auth::ClaimPaths {
            experiment: cfg.slices.claims.experiment.clone(),
            expires: cfg.slices.claims.expires.clone(),
            role: cfg.slices.claims.role.clone(),
            user: cfg.slices.claims.user.clone(),
        },
        public_url,
        response_token_ttl: cfg.slices.response_token_ttl,
        body_limit: cfg.server.body_limit,
    })
}

/// OSM's server (CherryPy) accepts `/osm/admin/v1/tokens/` like `/osm/admin/v1/tokens`, and its
/// test driver relies on it. Rewritten before routing, and only under `/osm/`, so that paths which
/// need their slash (Swagger UI's `/api-docs/`) keep it.
fn trim_osm_trailing_slash(mut req: axum::extract::Request) -> axum::extract::Request {
    let path = req.uri().path();
    if path.starts_with("/osm/") && path.len() > 5 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let pq = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// The TLS certificate and key: configured, or self-signed in `<data_dir>/tls/` (created once).
pub fn tls_files(cfg: &Config) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    if let (Some(c), Some(k)) = (&cfg.server.tls.cert, &cfg.server.tls.key) {
        return Ok((c.clone(), k.clone()));
    }
    let dir = cfg.data_dir.join("tls");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if !(cert.exists() && key.exists()) {
        std::fs::create_dir_all(&dir)?;
        let host = cfg
            .server
            .listen
            .rsplit_once(':')
            .map(|(h, _)| h.trim_matches(['[', ']']))
            .unwrap_or("localhost");
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            host.to_string(),
        ];
        let generated = rcgen::generate_simple_self_signed(names)
            .context("generating a self-signed certificate")?;
        write_private(&key, generated.signing_key.serialize_pem().as_bytes())?;
        std::fs::write(&cert, generated.cert.pem())?;
        tracing::warn!(cert = %cert.display(), "generated a self-signed TLS certificate");
    }
    Ok((cert, key))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)?;
    Ok(())
}
