//! `kafka-chaos experiment`: runs specs against a real broker, shows the
//! progress on the console, and turns the outcome (and, with `--check`,
//! the expectations) into the exit code.

use std::path::Path;

use anyhow::Context;
use clap::Args;

use super::broker::BrokerArgs;
use super::console::Console;
use super::exit;
use super::output::{err_line, fail, out_line};
use super::signal::interrupt_token;
use crate::broker::{self, Backend};
use crate::model::result::ExperimentResult;
use crate::run::{self, RunError, RunOptions};
use crate::spec::{self, Mode, Profile};

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
    /// Keep the run's private directory (the external producers' stderr
    /// logs, the private podman service's socket) instead of removing it at
    /// the end; its path is printed.
    #[arg(long)]
    pub keep_run_dir: bool,
    #[command(flatten)]
    pub broker: BrokerArgs,
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
    let specs: Vec<_> = specs
        .into_iter()
        .filter(|s| args.mode.is_none_or(|m| m == s.mode))
        .collect();
    if specs.is_empty() {
        err_line!("error: no experiment matches (see `kafka-chaos list`)");
        return exit::CANNOT_RUN;
    }
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
    let opts = RunOptions {
        results_dir: results.to_path_buf(),
        broker: args.broker.config("run"),
        profile: args.profile,
        command: std::env::args().collect::<Vec<_>>().join(" "),
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
                print_checks(&outcome.results)
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
                err_line!("interrupted: broker removed; finished results were kept");
                exit::INTERRUPTED
            }
            _ => fail(&e, exit::CANNOT_RUN),
        },
    }
}

/// Prints every expectation's result, and every reason an experiment is
/// not verified; returns how many failed. A not verified experiment fails
/// even when its expectations hold: its verdicts are no evidence.
fn print_checks(results: &[ExperimentResult]) -> usize {
    let mut failed = 0;
    let mut any = false;
    for r in results {
        for c in &r.checks {
            any = true;
            if !c.passed {
                failed += 1;
            }
            out_line!(
                "{}  {}: {} (actual {})",
                if c.passed { "PASS" } else { "FAIL" },
                r.name,
                c.expectation,
                c.actual
            );
        }
        for reason in &r.integrity {
            failed += 1;
            out_line!("FAIL  {}: NOT VERIFIED: {reason}", r.name);
        }
    }
    if !any && failed == 0 {
        out_line!("no expectations to check (add an [expect] table to a spec)");
    }
    failed
}
