//! The commands and the console: parsing (clap derive), what each command
//! does, and everything the user sees. `main.rs` only calls [`main`].
//!
//! This is the only folder that prints (besides tracing logs) and, with
//! `main.rs`, the only one that ends the process; the layers below return
//! values and errors, and the runner emits events that [`console`] shows.
//!
//! [`main`]: crate::cmd::main
//! [`console`]: crate::cmd::console

pub mod bench;
pub mod broker;
pub mod cleanup;
pub mod compare;
pub mod console;
pub mod exit;
pub mod experiment;
pub mod hand;
pub mod list;
pub mod output;
pub mod report;
pub mod signal;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use self::broker::BrokerCommandArgs;
use self::experiment::ExperimentArgs;
use self::list::ListArgs;
use self::output::{err_line, fail};

const AFTER_HELP: &str = "\
Exit codes:
  0    success (and, with --check, every expectation met)
  1    an expectation was violated, or an experiment is NOT VERIFIED: a fault
       that did not happen or landed late, fewer records than asked, a read-back
       that could not reach a stable end (with --check; each one is listed)
  2    the harness could not run: bad spec or argument, broker did not start,
       missing image, missing Kafka home, port in use, engine unavailable,
       a folder that is not a run (report, compare)
  130  interrupted (SIGINT/SIGTERM): brokers removed, finished results kept

Verdicts (what the application was told × what the topic really holds):
  ok             acked and found            lost           acked, then missing
  recovered      reported failed, yet found reported_loss  failed and missing
  unreported_ok  never reported, found      silent_loss    never reported, missing

Examples:
  kafka-chaos experiment all                  every spec in experiments/
  kafka-chaos experiment sync fire-and-forget two of them
  kafka-chaos experiment all --backend process --kafka-home ~/kafka_2.13-4.3.1
  kafka-chaos list
  kafka-chaos compare results/OLD_RUN results/NEW_RUN --max-increase lost=0
  kafka-chaos report results/RUN                 charts and report.html again";

/// Reproducible chaos experiments for Kafka producers: what each way of
/// sending really delivers when the broker fails mid-stream.
///
/// kafka-chaos starts a real Apache Kafka broker itself (a container by
/// default, or a local JVM process), produces records in one mode at a time,
/// stops or kills the broker after N records, brings it back, reads the
/// topic from the beginning and tells, record by record, what was
/// acknowledged, what failed, and what really persisted.
#[derive(Debug, Parser)]
#[command(name = "kafka-chaos", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Folder with the experiment specs (*.toml).
    #[arg(
        long,
        global = true,
        default_value = "experiments",
        env = "KAFKA_CHAOS_EXPERIMENTS"
    )]
    pub experiments: PathBuf,
    /// Folder the run folders are written into.
    #[arg(
        long,
        global = true,
        default_value = "results",
        env = "KAFKA_CHAOS_RESULTS"
    )]
    pub results: PathBuf,
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and the final table.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run experiments against a real Kafka broker and write CSV, JSON and
    /// PNG reports into a new folder under results/.
    Experiment(ExperimentArgs),
    /// List the experiments with their descriptions.
    List(ListArgs),
    /// Compare two runs' verdict counts side by side; with thresholds, exit
    /// 1 when a difference crosses one (for regression runs in CI).
    Compare(compare::CompareArgs),
    /// Draw a run's charts and report.html again from its folder's CSV and
    /// JSON files, without Kafka.
    Report(report::ReportArgs),
    /// Measure throughput and latency next to kcat and Kafka's own
    /// ProducerPerformance on the same broker (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
    /// Start a broker (or a cluster) to explore by hand, as in the tutorial:
    /// topics are created on first use, and stop, kill, restart, pause and
    /// resume are driven from the keyboard (or stdin) until q or Ctrl+C.
    Broker(BrokerCommandArgs),
    /// Remove brokers (containers and processes) left by runs that were
    /// killed before they could clean up.
    Cleanup,
}

/// Parses the command line, runs, and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            err_line!("error: cannot start the async runtime: {e}");
            return exit::CANNOT_RUN;
        }
    };
    let code = rt.block_on(dispatch(cli));
    // Give librdkafka's and testcontainers' background tasks a moment.
    rt.shutdown_timeout(Duration::from_secs(5));
    code
}

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error,librdkafka=off,rdkafka=off,fuser=off",
        // librdkafka logs every refused connection as an error: during a
        // chaos experiment that is the point, not news. -v shows them. So
        // does fuser (power-loss storage) for each reply to a request whose
        // process was killed while it waited: the point of a power cut.
        (_, 0) => "warn,kafka_chaos=info,librdkafka=off,rdkafka=off,fuser=off",
        (_, 1) => "info,kafka_chaos=debug,librdkafka=warn",
        _ => "debug,kafka_chaos=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn dispatch(cli: Cli) -> i32 {
    match &cli.command {
        Command::List(args) => match list::list(&cli.experiments, args) {
            Ok(()) => exit::SUCCESS,
            Err(e) => fail(&e, exit::CANNOT_RUN),
        },
        Command::Cleanup => match cleanup::cleanup().await {
            Ok(()) => exit::SUCCESS,
            Err(e) => fail(&e, exit::CANNOT_RUN),
        },
        Command::Broker(args) => broker::broker_command(args).await,
        Command::Bench(args) => bench::bench(args).await,
        Command::Compare(args) => compare::command(args),
        Command::Report(args) => report::command(args, cli.quiet),
        Command::Experiment(args) => {
            experiment::experiment(&cli.experiments, &cli.results, cli.quiet, args).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
