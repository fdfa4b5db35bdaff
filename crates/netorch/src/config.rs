//! Typed configuration: defaults → TOML file → `NETORCH_*` environment (`__` nests).

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use figment::{
    Figment,
    providers::{Env, Format as _, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// The whole configuration. Every key is documented in docs/CONFIG.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite database, generated keys and certificates.
    pub data_dir: PathBuf,
    /// HTTP server.
    pub server: ServerConfig,
    /// Database.
    pub database: DatabaseConfig,
    /// Identity.
    pub auth: AuthSection,
    /// Event relay.
    pub events: EventsSection,
    /// Job scheduler.
    pub scheduler: SchedulerSection,
    /// Logging.
    pub log: LogSection,
    /// OSM NBI family.
    pub osm: OsmSection,
    /// SLICES connectivity family.
    pub slices: SlicesSection,
    /// ONAP OOF placement family.
    pub oof: OofSection,
    /// TMF family (TMF632, OAuth2 token endpoint).
    pub tmf: TmfSection,
    /// DMI plugin family (NCMP's DMI contract over NETCONF).
    pub dmi: DmiSection,
}

/// `[dmi]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DmiSection {
    /// How NCMP reaches this plugin (its base URL): `dmiPlugin` of registrations, `source` of
    /// events. Default: `http://<server.listen>`.
    pub plugin_id: Option<String>,
    /// Topic of asynchronous results (NCMP's `ncmp-async-m2m`).
    pub async_topic: String,
    /// Default topic of the data-source refresh event.
    pub inventory_topic: String,
    /// Time limit of one asynchronous operation on a device.
    #[serde(with = "humantime_serde")]
    pub async_timeout: Duration,
    /// Most handles in one registration or bulk request.
    pub max_batch: usize,
    /// How often the module-sync watchdog runs (ADVISED handles, LOCKED ones due a retry).
    #[serde(with = "humantime_serde")]
    pub sync_interval: Duration,
    /// First wait before a LOCKED handle's sync is retried (doubling up to `sync_retry_max`).
    #[serde(with = "humantime_serde")]
    pub sync_retry: Duration,
    /// Longest wait between sync retries.
    #[serde(with = "humantime_serde")]
    pub sync_retry_max: Duration,
    /// NETCONF: TCP + SSH + hello + a first, empty request answered: time limit.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// NETCONF: time limit of one RPC.
    #[serde(with = "humantime_serde")]
    pub rpc_timeout: Duration,
    /// NETCONF sessions per device.
    pub sessions_per_device: usize,
    /// Idle NETCONF sessions are closed after this.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Longest wait between connection attempts to a device that is down.
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    /// NCMP to register handles with (`POST {it}/ncmpInventory/v1/ch`); none: no registration.
    pub ncmp_url: Option<String>,
    /// HTTP Basic user for NCMP.
    pub ncmp_username: Option<String>,
    /// Its password.
    pub ncmp_password: Option<String>,
    /// Handles per registration request.
    pub ncmp_batch: usize,
}

impl Default for DmiSection {
    fn default() -> Self {
        Self {
            plugin_id: None,
            async_topic: "ncmp-async-m2m".into(),
            inventory_topic: "NCMP_INVENTORY".into(),
            async_timeout: Duration::from_secs(30),
            max_batch: 5000,
            sync_interval: Duration::from_secs(5),
            sync_retry: Duration::from_secs(5),
            sync_retry_max: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(30),
            sessions_per_device: 4,
            idle_timeout: Duration::from_secs(300),
            reconnect_max: Duration::from_secs(30),
            ncmp_url: None,
            ncmp_username: None,
            ncmp_password: None,
            ncmp_batch: 2000,
        }
    }
}

/// `[tmf]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TmfSection {
    /// Answer creations and deletions with 200 as OpenSlice does, instead of TMF's 201/204.
    pub openslice_compat: bool,
    /// Serve TMF633 reads without a token, as OpenSlice does.
    pub anonymous_catalog_reads: bool,
    /// When every peering's specifications are fetched again: a duration (`5m`) or a cron
    /// expression (`*/5 * * * *`, UTC).
    pub heartbeat_interval: String,
    /// Time limit of one call to a peer.
    #[serde(with = "humantime_serde")]
    pub peer_timeout: Duration,
    /// Largest answer accepted from a peer, bytes.
    pub peer_max_body: usize,
    /// Tries per call to a peer (unreachable or 5xx), with doubling backoff from 200 ms.
    pub peer_attempts: u32,
    /// This server's public base URL; with it, peerings subscribe to the peer's hub and changes
    /// upstream arrive at once (otherwise with the next heartbeat).
    pub public_url: Option<String>,
    /// How often pending catalog events are turned into hub deliveries.
    #[serde(with = "humantime_serde")]
    pub notify_interval: Duration,
}

impl Default for TmfSection {
    fn default() -> Self {
        Self {
            openslice_compat: false,
            anonymous_catalog_reads: false,
            heartbeat_interval: "5m".into(),
            peer_timeout: Duration::from_secs(10),
            peer_max_body: 8 * 1024 * 1024,
            peer_attempts: 3,
            public_url: None,
            notify_interval: Duration::from_secs(1),
        }
    }
}

/// `[oof]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OofSection {
    /// Directory of OSDF local policy files (`*.json`), loaded (upserted) at start-up.
    pub policy_dir: Option<PathBuf>,
    /// Inventory file in A&AI's shape (`{"cloud-region": [...], "license-pool": [...]}`), stored at
    /// start-up (it replaces the stored inventory).
    pub inventory_file: Option<PathBuf>,
    /// Basic credentials netorch presents to callback URLs (OSDF's `soUsername`).
    pub callback_username: Option<String>,
    /// Password for `callback_username`.
    pub callback_password: Option<String>,
    /// Delivery attempts per callback (backoff doubles from 1 s, at most 5 min).
    pub callback_attempts: i64,
    /// MILP backend: `microlp` (built in) or `cbc` (a build with the `cbc` feature).
    pub solver: String,
    /// SDN-C base URL up to and including `restconf` (HAS's `sdnc.server_url`), asked by
    /// `instance_fit` / `region_fit` policies.
    pub sdnc_url: Option<String>,
    /// Basic credentials for SDN-C.
    pub sdnc_username: Option<String>,
    /// Password for `sdnc_username`.
    pub sdnc_password: Option<String>,
    /// Time limit of one SDN-C capacity check.
    #[serde(with = "humantime_serde")]
    pub sdnc_timeout: Duration,
}

impl Default for OofSection {
    fn default() -> Self {
        Self {
            policy_dir: None,
            inventory_file: None,
            callback_username: None,
            callback_password: None,
            callback_attempts: 8,
            solver: "microlp".into(),
            sdnc_url: None,
            sdnc_username: None,
            sdnc_password: None,
            sdnc_timeout: Duration::from_secs(30),
        }
    }
}

/// `[slices]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlicesSection {
    /// The service's public URL: `iss` of signed responses, audience of the development issuer's
    /// tokens; its host names reservation ids (`con_<host>_...`). Default `http://<server.listen>`.
    pub public_url: Option<String>,
    /// Topology file (TOML, or YAML by extension) seeding an empty store; default: the shipped
    /// 12-site topology.
    pub topology_file: Option<PathBuf>,
    /// Shortest reservation.
    #[serde(with = "humantime_serde")]
    pub min_duration: Duration,
    /// How far in the past an explicit `start_date` may lie.
    #[serde(with = "humantime_serde")]
    pub past_tolerance: Duration,
    /// Clock leeway for `exp`/`nbf` of SLICES tokens (at most 60 s).
    #[serde(with = "humantime_serde")]
    pub token_leeway: Duration,
    /// How long fetched issuer keys are trusted before they are fetched again.
    #[serde(with = "humantime_serde")]
    pub jwks_cache_ttl: Duration,
    /// Lifetime (`exp - iat`) of `application/jwt` responses.
    #[serde(with = "humantime_serde")]
    pub response_token_ttl: Duration,
    /// The response-signing key is replaced when older than this.
    #[serde(with = "humantime_serde")]
    pub key_rotation: Duration,
    /// How often ended reservations are archived.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Accept tokens of netorch's own development issuer (`netorch token slices`). Turn off in
    /// production, where only SLICES' issuers should be trusted.
    pub local_issuer: bool,
    /// Trusted SLICES token issuers.
    pub issuers: Vec<IssuerSection>,
    /// Claim paths in experiment tokens.
    pub claims: ClaimsSection,
}

/// `[[slices.issuers]]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssuerSection {
    /// Exact `iss` value (e.g. `https://account.ilabt.imec.be`).
    pub issuer: String,
    /// JWKS URL.
    pub jwks_url: Option<String>,
    /// JWKS file (instead of a URL).
    pub jwks_file: Option<PathBuf>,
    /// Accepted `aud` values; empty: not checked.
    pub audiences: Vec<String>,
}

/// `[slices.claims]`: dotted paths into experiment-token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimsSection {
    /// Experiment id.
    pub experiment: String,
    /// Experiment expiry (epoch seconds or RFC 3339).
    pub expires: String,
    /// Caller's role (VIEWER, LEAD, ADMIN; a string or a list).
    pub role: String,
    /// User the token speaks for (checked against the user token when present).
    pub user: String,
}

impl Default for ClaimsSection {
    fn default() -> Self {
        let d = netorch_api_slices::auth::ClaimPaths::default();
        Self {
            experiment: d.experiment,
            expires: d.expires,
            role: d.role,
            user: d.user,
        }
    }
}

impl Default for SlicesSection {
    fn default() -> Self {
        Self {
            public_url: None,
            topology_file: None,
            min_duration: Duration::from_secs(15 * 60),
            past_tolerance: Duration::from_secs(5 * 60),
            token_leeway: Duration::from_secs(60),
            jwks_cache_ttl: Duration::from_secs(600),
            response_token_ttl: Duration::from_secs(7 * 24 * 3600),
            key_rotation: Duration::from_secs(30 * 24 * 3600),
            sweep_interval: Duration::from_secs(60),
            local_issuer: true,
            issuers: Vec::new(),
            claims: ClaimsSection::default(),
        }
    }
}

impl SlicesSection {
    /// The public URL in effect.
    pub fn public_url(&self, server: &ServerConfig) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                let scheme = if server.tls.enabled { "https" } else { "http" };
                format!("{scheme}://{}", server.listen)
            }
        }
    }
}

/// `[osm]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OsmSection {
    /// Base64 AES-256 key sealing account passwords at rest; default: `<data_dir>/secret.key`,
    /// generated on first start. Every replica must use the same key.
    pub secret_key: Option<String>,
    /// File holding that key.
    pub secret_key_file: Option<PathBuf>,
    /// How often operations whose job was lost are re-enqueued.
    #[serde(with = "humantime_serde")]
    pub reconcile_interval: Duration,
    /// How often NS operation state changes are turned into subscription notifications (a sweep
    /// that costs two indexed reads while nothing changed).
    #[serde(with = "humantime_serde")]
    pub notify_interval: Duration,
    /// Directory of package files (content-addressed); default `<data_dir>/packages`. With
    /// PostgreSQL replicas, a directory they all mount, or `package_s3`.
    pub package_dir: Option<PathBuf>,
    /// Package files in an S3-compatible bucket instead of `package_dir`: what replicas share
    /// without a shared file system. Credentials from `AWS_ACCESS_KEY_ID` /
    /// `AWS_SECRET_ACCESS_KEY` (or the instance's role).
    pub package_s3: Option<PackageS3Section>,
    /// Largest package upload (one request or chunk), bytes.
    pub package_max_bytes: usize,
    /// Largest total size a package may expand to, bytes.
    pub package_max_expanded: u64,
    /// Most files a package may hold.
    pub package_max_files: usize,
    /// How often unreferenced package files and abandoned chunked uploads are removed.
    #[serde(with = "humantime_serde")]
    pub housekeeping_interval: Duration,
    /// Unreferenced package files younger than this are kept.
    #[serde(with = "humantime_serde")]
    pub orphan_grace: Duration,
}

impl Default for OsmSection {
    fn default() -> Self {
        Self {
            secret_key: None,
            secret_key_file: None,
            reconcile_interval: Duration::from_secs(60),
            notify_interval: Duration::from_secs(1),
            package_dir: None,
            package_s3: None,
            package_max_bytes: 256 * 1024 * 1024,
            package_max_expanded: 512 * 1024 * 1024,
            package_max_files: 10_000,
            housekeeping_interval: Duration::from_secs(3600),
            orphan_grace: Duration::from_secs(3600),
        }
    }
}

/// `[osm.package_s3]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PackageS3Section {
    /// Bucket (it must exist; start-up checks it).
    pub bucket: String,
    /// Key prefix.
    pub prefix: String,
    /// Region (default `us-east-1`).
    pub region: String,
    /// Endpoint of a non-AWS implementation, e.g. `http://minio:9000` (path-style requests).
    pub endpoint: Option<String>,
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: String,
    /// Largest accepted request body on JSON/YAML endpoints, in bytes.
    pub body_limit: usize,
    /// Requests taking longer are answered 408.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long shutdown may take in all, from the signal to the exit, whatever is down: in-flight
    /// requests and jobs get this long, then the process leaves (jobs it held are taken over
    /// when their lease expires; undelivered events stay in the outbox).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// TLS.
    pub tls: TlsConfig,
    /// A second, plain-HTTP listener for probes and metrics only (`/livez`, `/readyz`,
    /// `/metrics`), e.g. `0.0.0.0:9090`; unset: they are served on `listen` only.
    pub management_listen: Option<String>,
    /// This replica's name in leases and logs; default: `$HOSTNAME` (the pod name) or the host
    /// name, with the process id.
    pub replica_id: Option<String>,
    /// How long the singleton lease lasts without renewal (renewed every third of it): after a
    /// replica dies, another takes its periodic work over within this time.
    #[serde(with = "humantime_serde")]
    pub leader_lease: Duration,
    /// Once start-up is over, give its memory back: trim the heap and unmap the executable's
    /// start-up code (it stays in the page cache). Linux with glibc only; `false` keeps it all.
    pub release_startup_memory: bool,
}

/// `[server.tls]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Serve HTTPS (osmclient v8 only speaks HTTPS).
    pub enabled: bool,
    /// PEM certificate chain; without it a self-signed certificate is generated in the data dir.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://...` or `postgres://...`; default: `sqlite://<data_dir>/netorch.db`.
    pub url: Option<String>,
    /// File holding the URL (it may carry a password); wins over `url`.
    pub url_file: Option<PathBuf>,
    /// Pool size.
    pub max_connections: u32,
    /// Apply migrations at start-up.
    pub migrate_on_start: bool,
}

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// Password of the `admin` user created on first start.
    pub admin_password: String,
    /// File holding that password (wins over `admin_password`).
    pub admin_password_file: Option<PathBuf>,
    /// Token lifetime.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// How long a validated token is trusted without a database read.
    #[serde(with = "humantime_serde")]
    pub token_cache_ttl: Duration,
    /// Token requests of one user closer than this...
    #[serde(with = "humantime_serde")]
    pub throttle_window: Duration,
    /// ...are delayed by this much.
    #[serde(with = "humantime_serde")]
    pub throttle_delay: Duration,
    /// Minimum password length.
    pub password_min_length: usize,
    /// Require mixed case, digit and special character.
    pub password_require_mixed: bool,
    /// Accept `Authorization: Basic` besides bearer tokens.
    pub allow_basic: bool,
    /// Schedule of expired-token removal: a duration (`1h`) or a cron expression.
    pub token_purge: String,
}

/// `[events]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsSection {
    /// `bus` (in-process) or `kafka` (needs the `kafka` cargo feature).
    pub sink: String,
    /// Poll interval of the relay.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Events per batch.
    pub batch: i64,
    /// Delivered events are kept this long.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Readiness fails when the oldest undelivered event is older than this (the sink is down
    /// that long); unset: the sink's state is reported by `/readyz` but never fails it, since
    /// writes stay safe in the outbox and a broker outage need not take the API down.
    #[serde(with = "humantime_serde::option")]
    pub ready_max_lag: Option<Duration>,
    /// Kafka.
    pub kafka: KafkaSection,
}

/// `[events.kafka]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSection {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// Prefix added to every topic name.
    pub topic_prefix: String,
    /// Create missing topics on first use (for brokers without topic auto-creation).
    pub create_topics: bool,
    /// SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; unset: no authentication.
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    pub username: Option<String>,
    /// SASL password.
    pub password: Option<String>,
    /// File holding the SASL password (wins over `password`).
    pub password_file: Option<PathBuf>,
}

impl Default for KafkaSection {
    fn default() -> Self {
        Self {
            brokers: Vec::new(),
            topic_prefix: String::new(),
            create_topics: true,
            sasl_mechanism: None,
            username: None,
            password: None,
            password_file: None,
        }
    }
}

/// `[scheduler]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSection {
    /// Run jobs in this process.
    pub enabled: bool,
    /// Concurrent jobs.
    pub concurrency: usize,
    /// Poll interval.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Job lease.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How long finished jobs are kept before they are deleted (checked hourly).
    #[serde(with = "humantime_serde")]
    pub job_retention: Duration,
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: String,
    /// Filter, `RUST_LOG` syntax (e.g. `info,netorch=debug`).
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("netorch-data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthSection::default(),
            events: EventsSection::default(),
            scheduler: SchedulerSection::default(),
            log: LogSection::default(),
            osm: OsmSection::default(),
            slices: SlicesSection::default(),
            oof: OofSection::default(),
            tmf: TmfSection::default(),
            dmi: DmiSection::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9999".into(),
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            tls: TlsConfig::default(),
            management_listen: None,
            replica_id: None,
            leader_lease: Duration::from_secs(15),
            release_startup_memory: true,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            url_file: None,
            max_connections: 8,
            migrate_on_start: true,
        }
    }
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            admin_password: "admin".into(),
            admin_password_file: None,
            token_ttl: Duration::from_secs(3600),
            token_cache_ttl: Duration::from_secs(5),
            throttle_window: Duration::from_secs(2),
            throttle_delay: Duration::from_secs(1),
            password_min_length: 8,
            password_require_mixed: true,
            allow_basic: false,
            token_purge: "1h".into(),
        }
    }
}

impl Default for EventsSection {
    fn default() -> Self {
        Self {
            sink: "bus".into(),
            poll_interval: Duration::from_secs(1),
            batch: 100,
            retention: Duration::from_secs(24 * 3600),
            ready_max_lag: None,
            kafka: KafkaSection::default(),
        }
    }
}

impl Default for SchedulerSection {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 4,
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            job_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Config {
    /// Loads defaults, then the TOML file if given, then `NETORCH_*` variables.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            anyhow::ensure!(
                f.exists(),
                "configuration file {} does not exist",
                f.display()
            );
            // JSON too: a Helm chart renders its values with `toJson`, whose numbers stay
            // integers (its `toToml` writes them as floats, which u32 fields refuse).
            fig = if f
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            {
                fig.merge(figment::providers::Json::file(f))
            } else {
                fig.merge(Toml::file(f))
            };
        }
        // NETORCH_CONFIG (the file) and NETORCH_NEW_PASSWORD (the user commands) are command-line
        // inputs, not configuration keys.
        fig = fig.merge(
            Env::prefixed("NETORCH_")
                .ignore(&["config", "new_password"])
                .split("__"),
        );
        let mut cfg: Config = fig.extract().context("invalid configuration")?;
        if let Some(f) = &cfg.auth.admin_password_file {
            cfg.auth.admin_password = std::fs::read_to_string(f)
                .with_context(|| format!("reading auth.admin_password_file {}", f.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string();
        }
        if let Some(f) = &cfg.events.kafka.password_file {
            cfg.events.kafka.password = Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("reading events.kafka.password_file {}", f.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            );
        }
        if let Some(f) = &cfg.database.url_file {
            cfg.database.url = Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("reading database.url_file {}", f.display()))?
                    .trim()
                    .to_string(),
            );
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that types cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(m) = &self.events.kafka.sasl_mechanism {
            anyhow::ensure!(
                ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
                    .contains(&m.to_ascii_uppercase().as_str()),
                "events.kafka.sasl_mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not '{m}'"
            );
            anyhow::ensure!(
                self.events.kafka.username.is_some() && self.events.kafka.password.is_some(),
                "events.kafka.sasl_mechanism needs events.kafka.username and events.kafka.password (or password_file)"
            );
        }
        if let Some(s3) = &self.osm.package_s3 {
            anyhow::ensure!(!s3.bucket.is_empty(), "osm.package_s3.bucket is required");
            anyhow::ensure!(
                self.osm.package_dir.is_none(),
                "osm.package_dir and osm.package_s3 exclude each other"
            );
        }
        anyhow::ensure!(
            self.server.leader_lease >= Duration::from_secs(1),
            "server.leader_lease must be at least 1s"
        );
        if let Some(m) = &self.server.management_listen {
            anyhow::ensure!(
                m.parse::<std::net::SocketAddr>().is_ok(),
                "server.management_listen must be host:port, not '{m}'"
            );
        }
        self.server
            .listen
            .parse::<std::net::SocketAddr>()
            .with_context(|| {
                format!(
                    "server.listen '{}' is not an address:port",
                    self.server.listen
                )
            })?;
        anyhow::ensure!(
            self.server.body_limit >= 1024,
            "server.body_limit must be at least 1024 bytes"
        );
        if let Some(url) = &self.database.url {
            anyhow::ensure!(
                netorch_store::Backend::from_url(url).is_some(),
                "database.url must start with sqlite: or postgres://"
            );
        }
        anyhow::ensure!(
            matches!(self.events.sink.as_str(), "bus" | "kafka"),
            "events.sink must be 'bus' or 'kafka'"
        );
        if self.events.sink == "kafka" {
            anyhow::ensure!(
                cfg!(feature = "kafka"),
                "events.sink = 'kafka' needs a build with --features kafka"
            );
            anyhow::ensure!(
                !self.events.kafka.brokers.is_empty(),
                "events.kafka.brokers is empty"
            );
        }
        anyhow::ensure!(
            matches!(self.log.format.as_str(), "text" | "json"),
            "log.format must be 'text' or 'json'"
        );
        anyhow::ensure!(
            self.scheduler.concurrency >= 1,
            "scheduler.concurrency must be at least 1"
        );
        anyhow::ensure!(
            self.tls_pair_consistent(),
            "server.tls.cert and server.tls.key must be given together"
        );
        crate::app::purge_schedule(&self.auth.token_purge)?;
        crate::app::schedule("tmf.heartbeat_interval", &self.tmf.heartbeat_interval)?;
        anyhow::ensure!(
            self.slices.token_leeway <= Duration::from_secs(60),
            "slices.token_leeway must be at most 60s (SLICES experiment tokens live ~15 minutes)"
        );
        anyhow::ensure!(
            self.slices.response_token_ttl >= Duration::from_secs(60)
                && self.slices.key_rotation >= Duration::from_secs(3600),
            "slices.response_token_ttl must be at least 60s and slices.key_rotation at least 1h"
        );
        for i in &self.slices.issuers {
            anyhow::ensure!(!i.issuer.is_empty(), "slices.issuers: issuer is empty");
            anyhow::ensure!(
                i.jwks_url.is_some() != i.jwks_file.is_some(),
                "slices.issuers '{}': give exactly one of jwks_url and jwks_file",
                i.issuer
            );
        }
        anyhow::ensure!(
            (1..=50).contains(&self.oof.callback_attempts),
            "oof.callback_attempts must be between 1 and 50"
        );
        anyhow::ensure!(
            self.oof.callback_username.is_some() == self.oof.callback_password.is_some(),
            "oof.callback_username and oof.callback_password must be given together"
        );
        netorch_solver::Backend::parse(&self.oof.solver)
            .map_err(|e| anyhow::anyhow!("oof.solver: {e}"))?;
        anyhow::ensure!(
            self.oof.sdnc_username.is_some() == self.oof.sdnc_password.is_some(),
            "oof.sdnc_username and oof.sdnc_password must be given together"
        );
        if let Some(u) = &self.oof.sdnc_url {
            let parsed =
                reqwest::Url::parse(u).map_err(|e| anyhow::anyhow!("oof.sdnc_url '{u}': {e}"))?;
            anyhow::ensure!(
                matches!(parsed.scheme(), "http" | "https"),
                "oof.sdnc_url must be an http(s) URL"
            );
        }
        if let Some(f) = &self.slices.topology_file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading slices.topology_file {}", f.display()))?;
            netorch_api_slices::topology::parse(&text, is_yaml(f))
                .map_err(|e| anyhow::anyhow!("slices.topology_file {}: {e}", f.display()))?;
        }
        Ok(())
    }

    fn tls_pair_consistent(&self) -> bool {
        self.server.tls.cert.is_some() == self.server.tls.key.is_some()
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("netorch.db").display()
            )
        })
    }

    /// The configuration as TOML with secrets hidden (`netorch config check`).
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        c.auth.admin_password = "***".into();
        if c.osm.secret_key.is_some() {
            c.osm.secret_key = Some("***".into());
        }
        if let Some(url) = &c.database.url {
            c.database.url = Some(netorch_store::redact_url(url));
        }
        for secret in [
            &mut c.events.kafka.password,
            &mut c.dmi.ncmp_password,
            &mut c.oof.callback_password,
            &mut c.oof.sdnc_password,
        ] {
            if secret.is_some() {
                *secret = Some("***".into());
            }
        }
        toml_string(&c)
    }
}

fn toml_string(c: &Config) -> String {
    // figment can read TOML but not write it; serialise through JSON → TOML-ish lines is not worth a
    // dependency, so print JSON, which is unambiguous.
    serde_json::to_string_pretty(c).unwrap_or_default()
}

/// Whether a file name says YAML.
pub fn is_yaml(path: &std::path::Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

#[cfg(test)]
mod tests {
    use super::Config;

    fn refusal(tweak: impl FnOnce(&mut Config)) -> String {
        let mut c = Config::default();
        tweak(&mut c);
        c.validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn placement_solver_and_sdnc_settings_are_checked_at_start_up() {
        assert_eq!(refusal(|_| {}), "", "the defaults are valid");
        assert!(
            refusal(|c| c.oof.solver = "gurobi".into()).contains("unknown solver backend 'gurobi'")
        );
        let cbc = refusal(|c| c.oof.solver = "cbc".into());
        if cfg!(feature = "cbc") {
            assert_eq!(cbc, "");
        } else {
            assert!(cbc.contains("feature"), "{cbc}");
        }
        assert!(refusal(|c| c.oof.sdnc_url = Some("not a url".into())).contains("oof.sdnc_url"));
        assert!(
            refusal(|c| c.oof.sdnc_url = Some("ftp://sdnc/restconf".into())).contains("http(s)")
        );
        assert!(refusal(|c| c.oof.sdnc_username = Some("u".into())).contains("together"));
        assert_eq!(
            refusal(|c| c.oof.sdnc_url = Some("https://sdnc:8443/restconf".into())),
            ""
        );
    }

    #[test]
    fn kafka_sasl_settings_are_checked_and_every_secret_is_hidden_by_config_check() {
        assert!(
            refusal(|c| c.events.kafka.sasl_mechanism = Some("GSSAPI".into()))
                .contains("SCRAM-SHA-512")
        );
        assert!(
            refusal(|c| c.events.kafka.sasl_mechanism = Some("SCRAM-SHA-256".into()))
                .contains("events.kafka.username")
        );
        let mut c = Config::default();
        c.events.kafka.sasl_mechanism = Some("scram-sha-512".into());
        c.events.kafka.username = Some("netorch".into());
        c.events.kafka.password = Some("k4fka-pw".into());
        c.dmi.ncmp_password = Some("ncmp-pw".into());
        c.oof.callback_username = Some("so".into());
        c.oof.callback_password = Some("callback-pw".into());
        c.oof.sdnc_username = Some("sdnc".into());
        c.oof.sdnc_password = Some("sdnc-pw".into());
        c.osm.secret_key = Some("sealing-key".into());
        c.database.url = Some("postgres://u:db-pw@h/x".into());
        assert_eq!(c.validate().err().map(|e| e.to_string()), None);
        let shown = c.redacted_toml();
        for secret in [
            "k4fka-pw",
            "ncmp-pw",
            "callback-pw",
            "sdnc-pw",
            "sealing-key",
            "db-pw",
        ] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        assert!(shown.contains("netorch"), "the user name is not a secret");
    }
}
