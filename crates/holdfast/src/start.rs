//! `holdfast start`: resolve settings, open the store, serve until SIGTERM/SIGINT, then shut
//! down cleanly (stop accepting, disconnect clients, flush the store, exit 0).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use holdfast_server::config::DurabilityMode;
use holdfast_store::{Durability, Store, StoreOptions};

use crate::{node, settings};

/// Store file name inside the data dir (the name snapshots use too).
pub const STORE_FILE: &str = holdfast_admin::snapshot::STORE_FILE;

/// Arguments of `holdfast start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Config file (otherwise $HOLDFAST_CONFIG, ./holdfast.toml, /etc/holdfast/holdfast.toml,
    /// /opt/holdfast/etc/holdfast.toml, <install>/etc/holdfast.toml; none: built-in defaults).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Data dir (otherwise $HOLDFAST_NODE__DATA_DIR, node.data_dir, or the layout default).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log filter (tracing syntax), also from $HOLDFAST_LOG.
    #[arg(long, env = "HOLDFAST_LOG", default_value = "info")]
    log: String,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub fn run(args: StartArgs) -> anyhow::Result<()> {
    init_logs(&args);
    let s = settings::resolve(args.config.as_deref(), args.data_dir.as_deref())?;
    match &s.config_file {
        Some(f) => tracing::info!(path = %f.path.display(), rule = %f.rule, "config file"),
        None => tracing::info!(rule = %s.config_rule, "config file: none"),
    }
    if !s.env_overrides.is_empty() {
        tracing::info!(vars = %s.env_overrides.join(","), "environment overrides");
    }
    tracing::info!(path = %s.data_dir.path.display(), rule = %s.data_dir.rule, "DATA DIR");
    crate::private::private_umask();
    crate::private::create_dir(&s.data_dir.path)?;
    let _lock = node::lock(&s.data_dir.path)?;
    crate::private::tighten_and_log(&s.data_dir.path)?;
    for path in holdfast_admin::leftovers::clean(&s.data_dir.path) {
        tracing::warn!(path = %path.display(), "removed a leftover of an interrupted export, upload or snapshot");
    }
    let (identity, created) = node::load_or_create(&s.data_dir.path)?;
    tracing::info!(
        id = %identity.id,
        name = %identity.name,
        new = created,
        "node identity (kept in the data dir, independent of hostname and IP)"
    );
    let durability = match s.config.store.durability {
        DurabilityMode::Sync => Durability::Sync,
        DurabilityMode::Periodic => Durability::Periodic {
            interval_ms: s.config.store.flush_interval_ms,
        },
    };
    let store = Store::open(
        &s.data_dir.path.join(STORE_FILE),
        StoreOptions {
            durability,
            cache_bytes: (s.config.store.cache_mb as usize) << 20,
            // Diagnostic (docs/formats/commands.md, "Recorded streams").
            record_to: std::env::var_os("HOLDFAST_RECORD_COMMANDS").map(PathBuf::from),
        },
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("holdfast")
        .build()
        .context("cannot start the async runtime")?;
    // Absolute, so that the admin API's paths (backup dir, config file) mean the same to
    // `holdfast ctl` run from any directory.
    let absolute = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    let node = Node {
        identity,
        data_dir: absolute(s.data_dir.path),
        config_file: s.config_file.map(|f| absolute(f.path)),
    };
    runtime.block_on(serve(s.config, store, node))
}

/// This node's identity and files, as the admin API needs them.
struct Node {
    identity: node::NodeIdentity,
    data_dir: PathBuf,
    config_file: Option<PathBuf>,
}

async fn serve(
    config: holdfast_server::config::BrokerConfig,
    store: Store,
    node: Node,
) -> anyhow::Result<()> {
    let signals = Signals::install()?;
    // Bound first: a busy admin port stops the node before any MQTT client is accepted.
    let admin_listener = match config.admin.enabled {
        true => Some(holdfast_admin::bind(config.admin.bind).await?),
        false => None,
    };
    let metrics_public = config.admin.metrics_public;
    // MQTT ports are bound but refuse connects until the admin API (and its bootstrap key)
    // is up: whoever sees the broker accept can administer it at once.
    let prepared = holdfast_server::prepare(config, store).await?;
    if let Some(path) = std::env::var_os("HOLDFAST_REPLAY_COMMANDS") {
        let path = PathBuf::from(path);
        let batches = holdfast_server::replay_commands(&prepared.broker, &path)
            .await
            .with_context(|| format!("cannot replay the commands in {}", path.display()))?;
        tracing::info!(batches, path = %path.display(), "recorded command stream applied");
    }
    let admin = match admin_listener {
        Some(listener) => {
            let opts = admin_options(&node, &prepared.addrs, metrics_public);
            Some(start_admin(listener, &prepared.broker, opts, &node.data_dir).await?)
        }
        None => {
            tracing::info!("admin API disabled (admin.enabled = false)");
            None
        }
    };
    let running = prepared.serve();
    for (name, addr) in &running.addrs {
        tracing::info!(listener = name, %addr, "ready");
    }
    signals.wait().await;
    running.broker.health.set_shutting_down();
    tracing::info!("shutting down: closing listeners and connections, flushing the store");
    if let Some(admin) = admin {
        admin.shutdown().await;
    }
    running.shutdown().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

fn admin_options(
    node: &Node,
    listeners: &[(&'static str, std::net::SocketAddr)],
    metrics_public: bool,
) -> holdfast_admin::AdminOptions {
    holdfast_admin::AdminOptions {
        node: holdfast_admin::NodeInfo {
            id: node.identity.id.clone(),
            name: node.identity.name.clone(),
            listeners: listeners
                .iter()
                .map(|(n, a)| ((*n).to_string(), *a))
                .collect(),
            data_dir: node.data_dir.clone(),
            config_file: node.config_file.clone(),
        },
        metrics_public,
    }
}

/// Make sure an admin key exists (writing the bootstrap key on first start), then serve.
async fn start_admin(
    listener: holdfast_admin::AdminListener,
    broker: &std::sync::Arc<holdfast_server::Broker>,
    opts: holdfast_admin::AdminOptions,
    data_dir: &std::path::Path,
) -> anyhow::Result<holdfast_admin::AdminServer> {
    let created = holdfast_admin::bootstrap::ensure_admin_key(broker, data_dir).await?;
    if let Some((path, key_id)) = created {
        tracing::info!(
            path = %path.display(),
            %key_id,
            "no API key existed: bootstrap admin key written (mode 0600; `holdfast ctl` reads it)"
        );
    }
    let server = holdfast_admin::serve(listener, broker.clone(), opts);
    tracing::info!(addr = %server.addr(), "admin API listening (/api/v1, /metrics)");
    Ok(server)
}

/// SIGTERM and SIGINT, watched from before the first listener binds, so that a signal that
/// arrives during start-up (bootstrap key, admin API) still means a clean shutdown.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM received"),
            _ = self.int.recv() => tracing::info!("SIGINT received"),
        }
    }
}

fn init_logs(args: &StartArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
