//! `netorch` command line.

use std::{io::BufRead as _, path::PathBuf, sync::Arc};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use netorch::{Config, app, telemetry};
use netorch_auth::{
    IdentityService,
    service::{MappingRef, NewUser},
};
use netorch_core::SystemClock;

#[derive(Parser)]
#[command(
    name = "netorch",
    version,
    about = "One server for the north-bound APIs of network-service orchestration"
)]
struct Cli {
    /// TOML configuration file (then NETORCH_* environment variables override it).
    #[arg(long, short, global = true, env = "NETORCH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Probe a running server (for container health checks; no curl needed): exit 0 if it is
    /// alive (or ready, with --ready), 1 if not or if it does not answer.
    Healthcheck {
        /// Ask `/readyz` (database, migrations, events, secrets) instead of `/livez`.
        #[arg(long)]
        ready: bool,
        /// Base URL; default: the management listener, else `server.listen` (127.0.0.1 for an
        /// unspecified address).
        #[arg(long)]
        url: Option<String>,
        /// Give up after this long.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Mint tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Load-test a server started in-process: authenticated GET /osm/admin/v1/users/{id} against a
    /// bare handler, same machine, same run.
    Bench(netorch::bench::BenchArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (password from --password or the first line of standard input).
    Add {
        /// User name.
        username: String,
        /// Password.
        #[arg(long, env = "NETORCH_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Project (name or id).
        #[arg(long, default_value = "admin")]
        project: String,
        /// Role (name or id).
        #[arg(long, default_value = "project_admin")]
        role: String,
    },
    /// Set a user's password (from --password or standard input).
    Passwd {
        /// User name or id.
        username: String,
        /// New password.
        #[arg(long, env = "NETORCH_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// List users with their project-role mappings.
    List,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// A SLICES user token and experiment token from netorch's development issuer
    /// (`slices.local_issuer`), printed as JSON. Not for production.
    Slices {
        /// Experiment id (`sub` of the experiment token).
        #[arg(long)]
        experiment: String,
        /// Role in the experiment: viewer, lead or admin.
        #[arg(long, default_value = "lead")]
        role: String,
        /// User id (`sub` of the user token).
        #[arg(long, default_value = "user_netorch.local_developer")]
        user: String,
        /// When the experiment expires, from now.
        #[arg(long, default_value = "30d", value_parser = humantime_serde::re::humantime::parse_duration)]
        experiment_expires: std::time::Duration,
        /// Lifetime of the tokens.
        #[arg(long, default_value = "1h", value_parser = humantime_serde::re::humantime::parse_duration)]
        ttl: std::time::Duration,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print it (secrets hidden).
    Check,
}

fn read_password(given: Option<String>) -> anyhow::Result<String> {
    match given {
        Some(p) => Ok(p),
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            let p = line.trim_end_matches(['\n', '\r']).to_string();
            anyhow::ensure!(
                !p.is_empty(),
                "no password given (use --password or standard input)"
            );
            Ok(p)
        }
    }
}

async fn identity(cfg: &Config) -> anyhow::Result<(Arc<IdentityService>, netorch_store::Store)> {
    let (store, _lock) = app::open_store(cfg).await?;
    store.migrate().await?;
    let svc = Arc::new(IdentityService::new(
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        app::auth_config(cfg),
        Arc::new(app::catalog()),
    ));
    svc.bootstrap(&cfg.auth.admin_password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((svc, store))
}

/// glibc raises its mmap threshold every time a large block is freed (up to 32 MiB), after which
/// large transient allocations — argon2's 19 MiB per password check, SQLite's caches during
/// migrations — are carved from the heap and stay resident for the life of the process: 68 MB two
/// seconds after the first token instead of 29 MB (BENCHMARKS.md). Pinning the threshold at
/// glibc's own default (128 KiB) keeps it from rising. An operator's own
/// `MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES` wins.
fn pin_malloc_mmap_threshold() {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return;
    }
    netorch_memory::pin_mmap_threshold(128 * 1024);
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve) {
        pin_malloc_mmap_threshold();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::load(cli.config.as_deref())?;
    telemetry::init(&cfg.log.format, &cfg.log.level);
    match cli.command {
        Command::Serve => netorch::serve_until_signal(cfg).await,
        Command::Migrate => {
            let (store, _lock) = app::open_store(&cfg).await?;
            store.migrate().await?;
            println!("migrations applied ({:?})", store.backend());
            Ok(())
        }
        Command::Healthcheck {
            ready,
            url,
            timeout,
        } => {
            let ok = netorch::healthcheck(&cfg, ready, url.as_deref(), timeout).await;
            std::process::exit(if ok { 0 } else { 1 });
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            println!("{}", cfg.redacted_toml());
            println!("configuration OK");
            Ok(())
        }
        Command::Bench(args) => netorch::bench::run(args).await,
        Command::Token {
            command:
                TokenCommand::Slices {
                    experiment,
                    role,
                    user,
                    experiment_expires,
                    ttl,
                },
        } => {
            anyhow::ensure!(
                cfg.slices.local_issuer,
                "slices.local_issuer is off: tokens of the development issuer would be refused"
            );
            anyhow::ensure!(
                matches!(
                    role.to_ascii_lowercase().as_str(),
                    "viewer" | "lead" | "admin"
                ),
                "--role must be viewer, lead or admin"
            );
            let store = app::open_store_shared(&cfg).await?;
            store.migrate().await?;
            let (user_token, experiment_token) = app::mint_dev_tokens(
                &cfg,
                &store,
                &app::DevTokenRequest {
                    experiment,
                    role,
                    user,
                    experiment_expires,
                    ttl,
                },
            )
            .await?;
            store.close().await;
            println!(
                "{}",
                serde_json::json!({"user_token": user_token, "experiment_token": experiment_token})
            );
            Ok(())
        }
        Command::User { command } => {
            let (svc, store) = identity(&cfg).await?;
            let result = match command {
                UserCommand::Add {
                    username,
                    password,
                    project,
                    role,
                } => {
                    let password = read_password(password)?;
                    let user = svc
                        .create_user(
                            None,
                            NewUser {
                                username,
                                password,
                                projects: vec![],
                                project_role_mappings: vec![MappingRef {
                                    project,
                                    role: Some(role),
                                }],
                                force: false,
                            },
                        )
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("user '{}' created with id {}", user.username, user.id);
                    Ok(())
                }
                UserCommand::Passwd { username, password } => {
                    let password = read_password(password)?;
                    svc.set_password(&username, password)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("password of '{username}' changed");
                    Ok(())
                }
                UserCommand::List => {
                    for v in svc
                        .list_users(None, false)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                    {
                        let maps: Vec<String> = v
                            .mappings
                            .iter()
                            .map(|m| format!("{}:{}", m.project_name, m.role_name))
                            .collect();
                        println!(
                            "{}\t{}\t{}\t{}",
                            v.user.username,
                            v.user.id,
                            v.user.status,
                            maps.join(",")
                        );
                    }
                    Ok(())
                }
            };
            store.close().await;
            result
        }
    }
}
