//! `kafka-chaos experiment`: runs specs against a real broker, shows the
//! progress on the console, and turns the outcome (and, with `--check`,
//! the expectations) into the exit code.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::broker::BrokerArgs;
use super::console::Console;
use super::exit;
use super::output::{err_line, fail, out_line};
use super::signal::interrupt_token;
use crate::broker::external::ExternalConfig;
use crate::broker::{self, Backend};
use crate::model::result::ExperimentResult;
use crate::model::spread::ExperimentSpread;
use crate::run::{self, RunError, RunOptions};
use crate::spec::{self, ExperimentSpec, Mode, Profile};

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
    /// and exit 1 if any is violated or an experiment is not verified (see
    /// junit.xml in the run folder).
    #[arg(long)]
    pub check: bool,
    /// Run each experiment N times, each time on a fresh topic (wins over
    /// a spec's `repeat`); the summary gives each count's spread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: Option<u32>,
    /// Seed of the draws (`fault_after = "50..150"`, `downtime = "5s..15s"`,
    /// `target = "random"`): the same seed draws the same plan. Wins over a
    /// spec's `seed`; without either, one is drawn and recorded.
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
    /// Experiments at once, each on a broker or cluster of its own [default:
    /// what the machine holds: min(cores + 1, available memory / what the
    /// largest cluster of the selected specs needs); 1 with --port or
    /// --backend external]. Whatever N, at most four broker nodes per core
    /// run at once (two with --broker-jit full; KAFKA_CHAOS_NODE_SLOTS sets
    /// the number, 0 for no limit): a cluster waits for its nodes' share.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Keep the run's private directory (the external producers' stderr
    /// logs, the private podman service's socket) instead of removing it at
    /// the end; its path is printed.
    #[arg(long)]
    pub keep_run_dir: bool,
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub external: ExternalArgs,
}

/// A cluster the harness does not run (`--backend external`).
#[derive(Debug, Args)]
#[command(next_help_heading = "External cluster (--backend external)")]
pub struct ExternalArgs {
    /// The cluster's bootstrap list, HOST:PORT[,…]. No broker is started;
    /// each experiment creates its own topic (kafka-chaos-<run id>-<name>).
    #[arg(long, value_name = "HOST:PORT[,…]", env = "KAFKA_CHAOS_BOOTSTRAP")]
    pub bootstrap: Option<String>,
    /// The clients' security settings, a properties file with librdkafka
    /// names (security.protocol, sasl.*, ssl.*): the producer's and the
    /// harness's own (admin, probes, read-back).
    #[arg(long, value_name = "FILE")]
    pub client_properties: Option<PathBuf>,
    /// Fault commands shared by every spec: a TOML file of
    /// [commands.<fault>] tables (inject, heal, timeout); they win over a
    /// spec's own.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Allow faults against the cluster: HOST must be one of the bootstrap
    /// hosts (so a typo cannot take down another cluster). Repeatable.
    #[arg(long, value_name = "HOST", value_delimiter = ',')]
    pub allow_faults_on: Vec<String>,
    /// Keep the topics the run created in the cluster instead of deleting
    /// them at the end.
    #[arg(long)]
    pub keep_topics: bool,
}

impl ExternalArgs {
    /// Checks the external options against the backend and the specs, and
    /// returns the cluster's configuration (`None` on the other backends).
    fn config(
        &self,
        backend: Backend,
        specs: &mut [ExperimentSpec],
    ) -> anyhow::Result<Option<ExternalConfig>> {
        if backend != Backend::External {
            let given = [
                ("--bootstrap", self.bootstrap.is_some()),
                ("--client-properties", self.client_properties.is_some()),
                ("--faults", self.faults.is_some()),
                ("--allow-faults-on", !self.allow_faults_on.is_empty()),
                ("--keep-topics", self.keep_topics),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
                anyhow::bail!(
                    "{flag} applies to --backend external (the harness runs and faults its own brokers itself)"
                );
            }
            return Ok(None);
        }
        let bootstrap = self
            .bootstrap
            .clone()
            .filter(|b| !b.trim().is_empty())
            .context("--backend external needs --bootstrap HOST:PORT[,…]")?;
        if let Some(file) = &self.faults {
            let commands = spec::commands::load_file(file)?;
            for s in specs.iter_mut() {
                s.commands.extend(&commands);
            }
        }
        spec::commands::check_external(specs, &bootstrap, &self.allow_faults_on)
            .map_err(anyhow::Error::msg)?;
        let client = match &self.client_properties {
            Some(f) => spec::connection::load(f)?,
            None => Default::default(),
        };
        Ok(Some(ExternalConfig {
            bootstrap,
            client,
            keep_topics: self.keep_topics,
        }))
    }
}

/// Runs the selected specs (from the folder `experiments`, results under
/// `results`) and returns the exit code.
pub(crate) async fn experiment(
    experiments: &Path,
    results: &Path,
    quiet: bool,
    args: &ExperimentArgs,
) -> i32 {
    // Every spec is checked before any broker starts.
    let specs = match spec::select(experiments, &args.names, args.profile) {
        Ok(s) => s,
        Err(e) => return fail(&anyhow::Error::new(e), exit::CANNOT_RUN),
    };
    let mut specs: Vec<_> = specs
        .into_iter()
        .filter(|s| args.mode.is_none_or(|m| m == s.mode))
        .collect();
    if specs.is_empty() {
        err_line!("error: no experiment matches (see `kafka-chaos list`)");
        return exit::CANNOT_RUN;
    }
    // A cluster the harness does not run: checked before anything runs.
    let external = match args.external.config(args.broker.backend, &mut specs) {
        Ok(x) => x,
        Err(e) => return fail(&e, exit::CANNOT_RUN),
    };
    // An external producer that is not installed would fail its
    // experiment only when its turn comes: say so now, before any broker.
    let missing: Vec<String> = specs
        .iter()
        .filter_map(|s| {
            let why = s.external.as_ref()?.missing_program()?;
            Some(format!("{}: {why}", s.name))
        })
        .collect();
    if !missing.is_empty() {
        for m in &missing {
            err_line!("error: {m}");
        }
        err_line!(
            "error: {} experiment(s) cannot run here; nothing was started (install the producers, or name the experiments to run)",
            missing.len()
        );
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
    let mut broker = args.broker.config("run");
    broker.external = external;
    let jobs = match (args.jobs, args.broker.port) {
        (Some(n), Some(_)) if n > 1 => {
            err_line!("error: --port fixes the address of one broker: it needs --jobs 1");
            return exit::CANNOT_RUN;
        }
        (Some(n), _) if n > 1 && broker.external.is_some() => {
            err_line!(
                "error: --backend external runs on one cluster that experiments share: it needs --jobs 1"
            );
            return exit::CANNOT_RUN;
        }
        (Some(n), _) => n as usize,
        (None, Some(_)) => 1,
        (None, None) if broker.external.is_some() => 1,
        (None, None) => {
            let nodes = specs.iter().map(|s| s.brokers).max().unwrap_or(1);
            run::capacity::default_jobs(
                crate::infra::machine::cores(),
                crate::infra::machine::available_memory(),
                nodes,
            )
        }
    };
    let opts = RunOptions {
        results_dir: results.to_path_buf(),
        broker,
        profile: args.profile,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        jobs,
        node_slots: run::capacity::node_slots(
            crate::infra::machine::cores(),
            args.broker.broker_jit,
            crate::infra::slots::slots_setting(),
        ),
        repeat: args.repeat,
        seed: args.seed,
    };
    if args.keep_run_dir {
        crate::infra::rundir::keep();
    }
    let cancel = interrupt_token();
    let mut console = Console::new(quiet);
    let ran = run::run(&specs, &opts, &mut console, &cancel)
        .await
        .context("run failed");
    if let Some(kept) = crate::infra::rundir::finish() {
        err_line!("run directory kept: {}", kept.display());
    }
    match ran {
        Ok(outcome) => {
            let violated = if args.check {
                print_checks(&outcome.results, &outcome.spreads)
            } else {
                0
            };
            if !outcome.failed.is_empty() {
                err_line!(
                    "error: {} experiment(s) did not finish (see above)",
                    outcome.failed.len()
                );
                exit::CANNOT_RUN
            } else if violated > 0 {
                err_line!(
                    "error: {violated} check(s) failed: expectations violated or experiments not verified (see {})",
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
                err_line!("interrupted: brokers removed; finished results were kept");
                exit::INTERRUPTED
            }
            _ => fail(&e, exit::CANNOT_RUN),
        },
    }
}

/// Prints every expectation's result (decided over the repetitions), and
/// every reason an experiment run is not verified; returns how many failed.
/// A not verified experiment fails even when its expectations hold: its
/// verdicts are no evidence.
fn print_checks(results: &[ExperimentResult], spreads: &[ExperimentSpread]) -> usize {
    let mut failed = 0;
    let mut any = false;
    for s in spreads {
        for c in &s.checks {
            any = true;
            if !c.passed {
                failed += 1;
            }
            let how = match (c.repetitions, c.passed) {
                (1, _) => format!(
                    " (actual {})",
                    c.actual.first().copied().unwrap_or_default()
                ),
                (_, true) => format!(
                    " (held in {} of {}, needed {})",
                    c.held_in, c.repetitions, c.required
                ),
                (_, false) => format!(": {}", c.explain()),
            };
            out_line!(
                "{}  {}: {}{how}",
                if c.passed { "PASS" } else { "FAIL" },
                s.name,
                c.expectation,
            );
        }
    }
    for r in results {
        for reason in &r.integrity {
            failed += 1;
            out_line!("FAIL  {}: NOT VERIFIED: {reason}", r.label());
        }
    }
    if !any && failed == 0 {
        out_line!("no expectations to check (add an [expect] table to a spec)");
    }
    failed
}
