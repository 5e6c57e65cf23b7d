//! `holdfast-bench`: an MQTT load generator.
//!
//! N publishers and M subscribers over MQTT 3.1.1 or 5.0, QoS 0/1/2, in a pair topology
//! (publisher i → subscriber i) or fan-out (one topic, every subscriber), at a fixed or the
//! maximum rate, for a warm-up plus a measured duration. It reports delivered messages per
//! second, end-to-end latency percentiles (the send time travels in the payload), lost and
//! duplicate messages, and — given the broker's pid — the broker's CPU time per delivered
//! message from `/proc/PID/stat`. `--idle N` instead opens N idle connections and reports the
//! broker's resident memory.
//!
//! Subcommands: `fill` builds a large data set in a broker over MQTT (persistent sessions,
//! queued QoS 1 messages, retained messages) for the backup benchmark `bench/backup.sh`;
//! `plot` draws the PNG charts of a results file written by `bench/compare.sh` or
//! `bench/backup.sh`.
//!
//! The clients are built on the project's codec over plain tokio sockets (one task per
//! connection); the report includes the generator's own CPU time so one can see that it is not
//! the bottleneck.

mod client;
mod fill;
mod idle;
mod plot;
mod proc_stat;
mod run;

use clap::{Parser, Subcommand, ValueEnum};

/// Command-line options.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "holdfast-bench",
    about = "MQTT load generator",
    args_conflicts_with_subcommands = true
)]
// No `--version` flag: `--version` is the MQTT protocol level.
pub struct Opts {
    /// Something other than a load run.
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    /// Broker host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Broker port.
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// Publishers.
    #[arg(long, default_value_t = 10)]
    pub pubs: usize,
    /// Subscribers.
    #[arg(long, default_value_t = 10)]
    pub subs: usize,
    /// Topology.
    #[arg(long, value_enum, default_value_t = Topology::Pair)]
    pub topology: Topology,
    /// QoS of publications and subscriptions.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,
    /// Payload bytes (at least 20: sequence, send time, publisher id).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Messages per second per publisher; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Warm-up seconds before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// MQTT protocol level: 4 (3.1.1) or 5.
    #[arg(long, default_value_t = 4)]
    pub version: u8,
    /// Unacknowledged QoS 1/2 publishes per publisher.
    #[arg(long, default_value_t = 16)]
    pub inflight: usize,
    /// Broker pid, for CPU time (and memory with --idle).
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Open this many idle connections and report the broker's RSS instead of a load run.
    #[arg(long)]
    pub idle: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Label for the report.
    #[arg(long, default_value = "")]
    pub label: String,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Cmd {
    /// Build a backup-benchmark data set: persistent sessions with one QoS 1 subscription
    /// each, QoS 1 messages queued for them, retained messages.
    Fill(fill::FillOpts),
    /// Draw PNG charts of a results file from bench/compare.sh or bench/backup.sh.
    Plot(plot::PlotOpts),
}

/// Who publishes to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// Publisher i → topic bench/i → subscriber i (min(pubs, subs) pairs).
    Pair,
    /// Every publisher → topic bench/fan → every subscriber.
    Fanout,
}

fn main() -> anyhow::Result<()> {
    let opts = Opts::parse();
    match &opts.cmd {
        Some(Cmd::Plot(p)) => return plot::run(p),
        Some(Cmd::Fill(f)) => {
            let report = runtime()?.block_on(fill::run(f))?;
            if f.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{report}");
            }
            return Ok(());
        }
        None => {}
    }
    anyhow::ensure!(
        opts.size >= run::HEADER_BYTES,
        "--size must be at least {}",
        run::HEADER_BYTES
    );
    anyhow::ensure!(
        opts.version == 4 || opts.version == 5,
        "--version must be 4 or 5"
    );
    let rt = runtime()?;
    if let Some(n) = opts.idle {
        let report = rt.block_on(idle::run(&opts, n))?;
        print(&opts, &report)?;
    } else {
        let report = rt.block_on(run::run(&opts))?;
        print(&opts, &report)?;
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn print<T: serde::Serialize + std::fmt::Display>(opts: &Opts, r: &T) -> anyhow::Result<()> {
    if opts.json {
        println!("{}", serde_json::to_string(r)?);
    } else {
        println!("{r}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cmd, Opts};

    #[test]
    fn the_command_line_is_consistent() {
        Opts::command().debug_assert();
    }

    #[test]
    fn load_run_and_subcommands_parse() {
        let o = Opts::parse_from(["holdfast-bench", "--port", "1884", "--version", "5"]);
        assert!(o.cmd.is_none());
        assert_eq!((o.port, o.version), (1884, 5));
        let o = Opts::parse_from(["holdfast-bench", "fill", "--sessions", "7"]);
        assert!(matches!(o.cmd, Some(Cmd::Fill(f)) if f.sessions == 7));
    }
}
