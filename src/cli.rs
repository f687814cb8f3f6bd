//! The command line: parsing (clap derive), and what each command does.
//! `main.rs` only calls [`main`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::broker::{self, Backend, Broker, BrokerConfig};
use crate::console::Console;
use crate::run::{self, RunError, RunOptions};
use crate::spec::{self, Mode, Profile};

/// `println!` that never panics: a closed stdout (`| head`, a test that
/// stopped reading) must not turn a clean shutdown into a crash.
macro_rules! out_line {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
/// `eprintln!` that never panics (see [`out_line`]).
macro_rules! err_line {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}
pub(crate) use {err_line, out_line};

/// Exit codes, documented in `--help` and the README.
pub mod exit {
    /// Everything ran (and every expectation checked was met).
    pub const SUCCESS: i32 = 0;
    /// An expectation was violated (with `--check`).
    pub const VIOLATED: i32 = 1;
    /// The harness could not run: bad spec or arguments, broker did not
    /// start, missing image, port in use, …
    pub const CANNOT_RUN: i32 = 2;
    /// Interrupted by SIGINT/SIGTERM (brokers were removed; finished
    /// results were kept).
    pub const INTERRUPTED: i32 = 130;
}

const AFTER_HELP: &str = "\
Exit codes:
  0    success (and, with --check, every expectation met)
  1    an expectation was violated (with --check; each one is listed)
  2    the harness could not run: bad spec or argument, broker did not start,
       missing image, missing Kafka home, port in use, engine unavailable
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
  kafka-chaos compare results/OLD_RUN results/NEW_RUN --max-increase lost=0";

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
    Compare(crate::compare::CompareArgs),
    /// Measure throughput and latency next to kcat and Kafka's own
    /// ProducerPerformance on the same broker (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
    /// Start a broker and keep it until Ctrl+C (to explore by hand).
    Broker(BrokerArgs),
    /// Remove brokers (containers and processes) left by runs that were
    /// killed before they could clean up.
    Cleanup,
}

#[derive(Debug, Args)]
pub struct ExperimentArgs {
    /// Experiments to run, by name (file stem in the experiments folder), a
    /// path to a .toml file, or `all`.
    #[arg(required = true, value_name = "NAME|all")]
    pub names: Vec<String>,
    /// Only the experiments of this mode.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// `quick` applies each spec's [quick] overrides: fewer records, shorter
    /// pauses, the same meaning (for CI).
    #[arg(long, value_enum, default_value_t = Profile::Full)]
    pub profile: Profile,
    /// Check each spec's [expect] bounds after the run, print each result,
    /// and exit 1 if any is violated (see junit.xml in the run folder).
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub broker: BrokerArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show the specs as the quick profile runs them.
    #[arg(long, value_enum, default_value_t = Profile::Full)]
    pub profile: Profile,
}

#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// How to run Kafka: a container (Docker, or podman which is started
    /// when no Docker engine is found) or a local JVM process.
    #[arg(long, value_enum, default_value_t = Backend::Container, env = "KAFKA_CHAOS_BACKEND")]
    pub backend: Backend,
    /// Container image [default: apache/kafka:<version> if present, else the
    /// image `make setup` builds offline, else a pull of apache/kafka].
    #[arg(long, env = "KAFKA_CHAOS_IMAGE")]
    pub image: Option<String>,
    /// Kafka distribution folder for --backend process (with libs/*.jar)
    /// [default: the jars `make setup` resolved from Maven Central].
    #[arg(long, env = "KAFKA_HOME")]
    pub kafka_home: Option<PathBuf>,
    /// Kafka version of the image and jars.
    #[arg(long, default_value = broker::DEFAULT_KAFKA_VERSION, env = "KAFKA_CHAOS_KAFKA_VERSION")]
    pub kafka_version: String,
    /// Host port of the bootstrap address 127.0.0.1:PORT [default: a free one].
    #[arg(long)]
    pub port: Option<u16>,
    /// How long a broker start or restart may take.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub ready_timeout: Duration,
}

impl BrokerArgs {
    fn config(&self, run_label: &str) -> BrokerConfig {
        let mut c = BrokerConfig::new(self.backend, run_label);
        c.kafka_version = self.kafka_version.clone();
        c.image = self.image.clone();
        c.kafka_home = self.kafka_home.clone();
        c.port = self.port;
        c.ready_timeout = self.ready_timeout;
        c
    }
}

/// Parses the command line, runs, and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            crate::cli::err_line!("error: cannot start the async runtime: {e}");
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
        (true, _) => "error,librdkafka=off,rdkafka=off",
        // librdkafka logs every refused connection as an error: during a
        // chaos experiment that is the point, not news. -v shows them.
        (_, 0) => "warn,kafka_chaos=info,librdkafka=off,rdkafka=off",
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

/// Prints an error chain on one line and returns the exit code for it.
fn fail(e: &anyhow::Error, code: i32) -> i32 {
    crate::cli::err_line!("error: {e:#}");
    code
}

async fn dispatch(cli: Cli) -> i32 {
    match &cli.command {
        Command::List(args) => match list(&cli, args) {
            Ok(()) => exit::SUCCESS,
            Err(e) => fail(&e, exit::CANNOT_RUN),
        },
        Command::Cleanup => match cleanup().await {
            Ok(()) => exit::SUCCESS,
            Err(e) => fail(&e, exit::CANNOT_RUN),
        },
        Command::Broker(args) => broker_command(args).await,
        Command::Bench(args) => match crate::bench::run(args).await {
            Ok(report) => {
                crate::cli::out_line!("{}", crate::bench::render(&report));
                exit::SUCCESS
            }
            Err(e) => fail(&e, exit::CANNOT_RUN),
        },
        Command::Compare(args) => match crate::compare::run(args) {
            Ok(outcome) => {
                crate::cli::out_line!("{}", crate::compare::render_table(&outcome));
                crate::compare::exit_code(&outcome)
            }
            Err(e) => fail(&anyhow::Error::new(e), exit::CANNOT_RUN),
        },
        Command::Experiment(args) => experiment(&cli, args).await,
    }
}

fn list(cli: &Cli, args: &ListArgs) -> anyhow::Result<()> {
    let specs = spec::load_dir(&cli.experiments, args.profile)?;
    let width = specs.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let modes = specs
        .iter()
        .map(|s| s.mode_label().len())
        .max()
        .unwrap_or(0)
        .max(15);
    for s in specs {
        crate::cli::out_line!(
            "{:<width$}  {:<modes$}  {:>7} records, pause {}, fault {}",
            s.name,
            s.mode_label(),
            s.records,
            humantime::format_duration(s.pause),
            if s.fault == spec::FaultKind::None {
                "none".to_string()
            } else {
                format!("{} after {}, heal {}", s.fault, s.fault_after, s.heal)
            },
        );
        for line in textwrap(&s.description, 76) {
            crate::cli::out_line!("{:width$}    {line}", "");
        }
    }
    Ok(())
}

fn textwrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

async fn cleanup() -> anyhow::Result<()> {
    let killed = broker::cleanup::reap_processes(true);
    crate::cli::out_line!("broker processes killed: {killed}");
    match broker::engine::client() {
        Ok(docker) => {
            let removed = broker::cleanup::reap_containers(&docker, true).await?;
            crate::cli::out_line!("broker containers removed: {}", removed.len());
            for r in removed {
                crate::cli::out_line!("  {r}");
            }
        }
        Err(e) => crate::cli::out_line!("containers: not checked ({e})"),
    }
    Ok(())
}

/// A token that fires on the first SIGINT/SIGTERM; a second one exits at
/// once (process brokers die with us; leftover containers are removed by
/// the next run or `kafka-chaos cleanup`).
fn interrupt_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("cannot listen for SIGTERM: {e}");
                    return;
                }
            };
        let mut first: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            // The same signal sent to the process and to its group arrives
            // twice at once: only a second one a moment later forces.
            if first.is_some_and(|f| f.elapsed() < Duration::from_secs(1)) {
                continue;
            }
            if first.is_none() {
                first = Some(std::time::Instant::now());
                crate::cli::err_line!(
                    "interrupted: stopping and removing the broker (again to force)…"
                );
                t.cancel();
            } else {
                crate::cli::err_line!("interrupted twice: exiting now");
                std::process::exit(exit::INTERRUPTED);
            }
        }
    });
    token
}

async fn broker_command(args: &BrokerArgs) -> i32 {
    let cancel = interrupt_token();
    let label = format!("broker-{}", run::new_run_id());
    let cfg = args.config(&label);
    let started = std::time::Instant::now();
    let broker = tokio::select! {
        b = Broker::start(&cfg) => b,
        _ = cancel.cancelled() => return exit::INTERRUPTED,
    };
    let broker = match broker {
        Ok(b) => b,
        Err(e) => return fail(&anyhow::Error::new(e), exit::CANNOT_RUN),
    };
    let info = broker.info();
    crate::cli::out_line!("bootstrap: {}", info.bootstrap);
    crate::cli::out_line!(
        "client bootstrap (through the harness's fault proxy): {}",
        info.client_bootstrap
    );
    crate::cli::out_line!(
        "ready in {:.1} s: Kafka {} ({} backend, {}, id {})",
        started.elapsed().as_secs_f64(),
        info.kafka_version,
        info.backend,
        info.source,
        info.id
    );
    crate::cli::out_line!("press Ctrl+C to stop and remove it");
    cancel.cancelled().await;
    broker.remove().await;
    crate::cli::out_line!("broker removed");
    exit::SUCCESS
}

async fn experiment(cli: &Cli, args: &ExperimentArgs) -> i32 {
    // Every spec is checked before any broker starts.
    let specs = match spec::select(&cli.experiments, &args.names, args.profile) {
        Ok(s) => s,
        Err(e) => return fail(&anyhow::Error::new(e), exit::CANNOT_RUN),
    };
    let specs: Vec<_> = specs
        .into_iter()
        .filter(|s| args.mode.is_none_or(|m| m == s.mode))
        .collect();
    if specs.is_empty() {
        crate::cli::err_line!("error: no experiment matches (see `kafka-chaos list`)");
        return exit::CANNOT_RUN;
    }
    if args.broker.backend == Backend::Process {
        let home = args
            .broker
            .kafka_home
            .clone()
            .unwrap_or_else(|| broker::process::default_kafka_home(&args.broker.kafka_version));
        if let Err(e) = broker::process::inspect_kafka_home(&home) {
            return fail(&anyhow::Error::new(e), exit::CANNOT_RUN);
        }
    }
    let opts = RunOptions {
        results_dir: cli.results.clone(),
        broker: args.broker.config("run"),
        profile: args.profile,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let cancel = interrupt_token();
    let mut console = Console::new(cli.quiet);
    match run::run(&specs, &opts, &mut console, &cancel)
        .await
        .context("run failed")
    {
        Ok(outcome) => {
            let violated = if args.check {
                print_checks(&outcome.results)
            } else {
                0
            };
            if !outcome.failed.is_empty() {
                crate::cli::err_line!(
                    "error: {} experiment(s) did not finish (see above)",
                    outcome.failed.len()
                );
                exit::CANNOT_RUN
            } else if violated > 0 {
                crate::cli::err_line!(
                    "error: {violated} expectation(s) violated (see {})",
                    outcome
                        .folder
                        .join(crate::report::names::JUNIT_XML)
                        .display()
                );
                exit::VIOLATED
            } else {
                exit::SUCCESS
            }
        }
        Err(e) => match e.downcast_ref::<RunError>() {
            Some(RunError::Interrupted) => {
                crate::cli::err_line!("interrupted: broker removed; finished results were kept");
                exit::INTERRUPTED
            }
            _ => fail(&e, exit::CANNOT_RUN),
        },
    }
}

/// Prints every expectation's result; returns how many were violated.
fn print_checks(results: &[crate::model::result::ExperimentResult]) -> usize {
    let mut violated = 0;
    let mut any = false;
    for r in results {
        for c in &r.checks {
            any = true;
            if !c.passed {
                violated += 1;
            }
            crate::cli::out_line!(
                "{}  {}: {} (actual {})",
                if c.passed { "PASS" } else { "FAIL" },
                r.name,
                c.expectation,
                c.actual
            );
        }
    }
    if !any {
        crate::cli::out_line!("no expectations to check (add an [expect] table to a spec)");
    }
    violated
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn text_wraps_at_word_boundaries() {
        let lines = textwrap("one two three four five", 9);
        assert_eq!(lines, vec!["one two", "three", "four five"]);
    }
}
