//! Stage 7: the runner, experiment after experiment, several at once.
//!
//! [`run`] expands the specs into experiment runs (each spec as often as it
//! is repeated, each repetition planned before anything starts:
//! [`units`]), lets `--jobs` workers ([`job`]) run them, each on a broker
//! or cluster of its own, and is the one writer of the run folder: it
//! writes each finished experiment's results as they come and rewrites the
//! summary after each, in spec order whatever the order of completion. It
//! never prints: it emits [`Event`]s to a [`Reporter`]. Every broker is
//! removed at the end, on error and on interruption.
//!
//! [`run`]: crate::run::run
//! [`units`]: crate::run::units
//! [`job`]: crate::run::job
//! [`Event`]: crate::run::Event
//! [`Reporter`]: crate::run::Reporter

pub mod capacity;
pub mod events;
pub mod experiment;
pub mod faults;
pub mod job;
mod queue;
pub mod units;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::broker::{BrokerConfig, BrokerError, BrokerInfo};
use crate::model::result::{ExperimentResult, RunMeta, RunTiming};
use crate::model::spread::{spreads, ExperimentSpread};
use crate::report::{ReportError, RunFolder};
use crate::spec::{ExperimentSpec, Profile};

pub use events::{Event, Progress, ProgressSink, Reporter, Silent};
pub use experiment::{run_experiment, ExperimentError};
pub use job::config_for;
pub use units::{Repeat, Unit};

use job::{JobContext, Msg};

/// Errors that stop a whole run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("interrupted")]
    Interrupted,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub results_dir: PathBuf,
    pub broker: BrokerConfig,
    pub profile: Profile,
    /// The command line, for the metadata.
    pub command: String,
    /// How many experiments run at once, each on its own broker (at least 1).
    pub jobs: usize,
    /// Broker nodes that may run at once over all jobs (0: no limit); see
    /// [`capacity::node_slots`].
    pub node_slots: usize,
    /// `--repeat`: every spec this often (wins over a spec's `repeat`).
    pub repeat: Option<u32>,
    /// `--seed`: the seed of every spec's draws (wins over a spec's `seed`).
    pub seed: Option<u64>,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub folder: PathBuf,
    pub meta: RunMeta,
    /// Every finished experiment run, in spec order.
    pub results: Vec<ExperimentResult>,
    /// Each experiment over its repetitions.
    pub spreads: Vec<ExperimentSpread>,
    /// Experiments that could not finish, with their error.
    pub failed: Vec<(String, String)>,
}

/// A run id: the UTC time, sortable, plus the pid to tell concurrent runs apart.
pub fn new_run_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        std::process::id()
    )
}

/// A topic name for an experiment of a run (Kafka allows `[a-zA-Z0-9._-]`):
/// `kafka-chaos-<run id>-<experiment>`, recognisable in a cluster the
/// harness does not run.
pub fn topic_name(run_id: &str, experiment: &str) -> String {
    let clean: String = format!("kafka-chaos-{run_id}-{experiment}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    clean.chars().take(240).collect()
}

/// Runs every repetition of every spec, `opts.jobs` at a time, writing
/// results as they come. Returns when all ran, or with
/// [`RunError::Interrupted`] once `cancel` fires (after removing every
/// broker; finished results stay).
pub async fn run(
    specs: &[ExperimentSpec],
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
    cancel: &CancellationToken,
) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let run_id = new_run_id();
    let mut base = opts.broker.clone();
    base.run_label = format!("run-{run_id}");
    if specs.is_empty() {
        return Err(RunError::Broker(BrokerError::Admin(
            "no experiment to run".into(),
        )));
    }
    let repeat = Repeat {
        repeat: opts.repeat,
        seed: opts.seed,
        run_seed: opts.seed.unwrap_or_else(units::os_seed),
    };
    let units = Arc::new(units::units(specs, &repeat));
    let jobs = opts.jobs.clamp(1, units.len());
    reporter.event(Event::RunStarted {
        total: units.len(),
        jobs,
        node_slots: opts.node_slots,
        seed: repeat.uses_run_seed(specs).then_some(repeat.run_seed),
        asked_s: units.iter().map(Unit::asked).sum(),
    });

    let stop = cancel.child_token();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let slot_count = if opts.node_slots == 0 {
        tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize)
    } else {
        opts.node_slots
    };
    let queue = Arc::new(queue::RunQueue::new(
        units.iter().map(|u| config_for(&base, &u.spec)).collect(),
        slot_count,
    ));
    let handles: Vec<_> = (0..jobs)
        .map(|job| {
            tokio::spawn(job::job(JobContext {
                job,
                run_id: run_id.clone(),
                base: base.clone(),
                units: Arc::clone(&units),
                queue: Arc::clone(&queue),
                tx: tx.clone(),
                stop: stop.clone(),
            }))
        })
        .collect();
    drop(tx);

    let mut w = Writer {
        run_id: &run_id,
        opts,
        jobs,
        seed: Some(repeat.run_seed),
        units: &units,
        folder: None,
        meta: None,
        results: Vec::new(),
        order: Vec::new(),
        failed: Vec::new(),
        started: vec![false; units.len()],
        n_started: 0,
        fatal: None,
    };
    while let Some(msg) = rx.recv().await {
        w.handle(msg, reporter, &stop);
    }
    for h in handles {
        if let Err(e) = h.await {
            tracing::error!("a job ended abnormally: {e}");
        }
    }
    w.finish(started, reporter, cancel)
}

/// The runner's side: the one writer of the run folder, and what it knows.
struct Writer<'a> {
    run_id: &'a str,
    opts: &'a RunOptions,
    jobs: usize,
    seed: Option<u64>,
    units: &'a [Unit],
    /// Created when the first broker is ready (its facts are the run's).
    folder: Option<RunFolder>,
    meta: Option<RunMeta>,
    /// Finished runs, ordered by their unit's index (`order`).
    results: Vec<ExperimentResult>,
    order: Vec<usize>,
    failed: Vec<(String, String)>,
    started: Vec<bool>,
    n_started: usize,
    /// What stops the run before its folder exists.
    fatal: Option<RunError>,
}

impl Writer<'_> {
    fn handle(&mut self, msg: Msg, reporter: &mut dyn Reporter, stop: &CancellationToken) {
        match msg {
            Msg::BrokerStarting {
                job,
                backend,
                brokers,
            } => reporter.event(Event::BrokerStarting {
                job,
                backend,
                brokers,
            }),
            Msg::WaitingForSlots { job, free, needed } => {
                reporter.event(Event::WaitingForSlots { job, free, needed })
            }
            Msg::BrokerReady { job, info, seconds } => {
                reporter.event(Event::BrokerReady {
                    job,
                    info: &info,
                    seconds,
                });
                if self.folder.is_none() && self.fatal.is_none() {
                    self.create_folder(&info, reporter, stop);
                }
            }
            Msg::BrokerFailed { job, unit, error } => {
                if self.folder.is_none() {
                    // Nothing ran yet: the run cannot (the image, the Kafka
                    // home, the port) — as a single broker that fails.
                    if self.fatal.is_none() {
                        self.fatal = Some(RunError::Broker(error));
                    }
                    stop.cancel();
                } else {
                    self.fail(Some(job), unit, format!("broker: {error}"), reporter);
                }
            }
            Msg::Started { job, unit } => {
                self.started[unit] = true;
                let u = &self.units[unit];
                reporter.event(Event::ExperimentStarted {
                    job,
                    index: self.n_started,
                    total: self.units.len(),
                    spec: &u.spec,
                    repetition: u.repetition,
                    repetitions: u.repetitions,
                    plan: &u.plan,
                });
                self.n_started += 1;
            }
            Msg::Progress { job, progress } => reporter.event(Event::Progress { job, progress }),
            Msg::Finished {
                job,
                unit,
                result,
                seconds,
            } => self.finished(job, unit, *result, seconds, reporter),
            Msg::Failed { job, unit, error } => self.fail(Some(job), unit, error, reporter),
        }
    }

    fn create_folder(
        &mut self,
        info: &BrokerInfo,
        reporter: &mut dyn Reporter,
        stop: &CancellationToken,
    ) {
        let meta = RunMeta {
            run_id: self.run_id.to_string(),
            started_at: chrono::Utc::now(),
            finished_at: None,
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            librdkafka_version: rdkafka::util::get_rdkafka_version().1,
            backend: info.backend.to_string(),
            kafka_version: info.kafka_version.clone(),
            broker_source: info.source.clone(),
            broker_jit: info.jit.map(|j| j.to_string()),
            profile: self.opts.profile.to_string(),
            command: self.opts.command.clone(),
            failed_experiments: Vec::new(),
            jobs: self.jobs,
            seed: self.seed,
            timing: None,
        };
        match RunFolder::create(&self.opts.results_dir, &meta) {
            Ok(f) => {
                reporter.event(Event::RunFolder { path: f.path() });
                self.folder = Some(f);
                self.meta = Some(meta);
            }
            Err(e) => {
                self.fatal = Some(e.into());
                stop.cancel();
            }
        }
    }

    fn finished(
        &mut self,
        job: usize,
        unit: usize,
        mut result: ExperimentResult,
        seconds: f64,
        reporter: &mut dyn Reporter,
    ) {
        let Some(folder) = &self.folder else {
            return;
        };
        reporter.event(Event::Progress {
            job,
            progress: Progress::Phase("writing reports"),
        });
        let t = Instant::now();
        let written = folder.write_experiment(&result);
        result.phases.reporting = t.elapsed().as_secs_f64();
        result.phases.wall = seconds + result.phases.reporting;
        match written {
            Ok(files) => reporter.event(Event::ExperimentFinished {
                job,
                result: &result,
                files: &files,
            }),
            Err(e) => {
                let msg = e.to_string();
                reporter.event(Event::ExperimentFailed {
                    job: Some(job),
                    name: &result.label(),
                    error: &msg,
                });
                self.failed.push((result.label(), msg));
            }
        }
        let at = self.order.partition_point(|&i| i < unit);
        self.order.insert(at, unit);
        self.results.insert(at, result);
        self.write_summary();
    }

    fn fail(
        &mut self,
        job: Option<usize>,
        unit: usize,
        error: String,
        reporter: &mut dyn Reporter,
    ) {
        let label = self.units[unit].label();
        reporter.event(Event::ExperimentFailed {
            job,
            name: &label,
            error: &error,
        });
        self.failed.push((label, error));
        self.write_summary();
    }

    /// Rewrites the summary after every experiment, so a crash keeps it.
    fn write_summary(&mut self) {
        if let (Some(folder), Some(meta)) = (&self.folder, &mut self.meta) {
            meta.failed_experiments.clone_from(&self.failed);
            if let Err(e) = folder.write_summary(meta, &self.results) {
                tracing::error!("cannot write the summary: {e}");
            }
        }
    }

    fn finish(
        mut self,
        started: Instant,
        reporter: &mut dyn Reporter,
        cancel: &CancellationToken,
    ) -> Result<RunOutcome, RunError> {
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        let (Some(folder), Some(mut meta)) = (self.folder.take(), self.meta.take()) else {
            // Interrupted before any broker was ready.
            return Err(RunError::Interrupted);
        };
        let asked: f64 = self
            .units
            .iter()
            .filter(|u| self.started[u.index])
            .map(Unit::asked)
            .sum();
        let timing = RunTiming::new(started.elapsed().as_secs_f64(), asked, self.jobs);
        meta.finished_at = Some(chrono::Utc::now());
        meta.failed_experiments.clone_from(&self.failed);
        meta.timing = Some(timing);
        folder.write_summary(&meta, &self.results)?;
        let spreads = spreads(&self.results);
        reporter.event(Event::RunFinished {
            folder: folder.path(),
            results: &self.results,
            spreads: &spreads,
            failed: &self.failed,
            timing: &timing,
        });
        if cancel.is_cancelled() {
            return Err(RunError::Interrupted);
        }
        Ok(RunOutcome {
            folder: folder.path().to_path_buf(),
            failed: self.failed,
            meta,
            results: self.results,
            spreads,
        })
    }
}
