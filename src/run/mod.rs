//! Stage 7: the runner, one experiment after another on one broker.
//!
//! [`run`] starts the broker, creates the run folder, runs every spec with
//! [`run_experiment`] (the phases of one experiment), writes each finished
//! experiment's results before the next one starts, and removes the broker at
//! the end, on error and on interruption. Like nextest's runner it never
//! prints: it emits [`Event`]s to a [`Reporter`].
//!
//! [`run`]: crate::run::run
//! [`run_experiment`]: crate::run::run_experiment
//! [`Event`]: crate::run::Event
//! [`Reporter`]: crate::run::Reporter

pub mod events;
pub mod experiment;
pub mod faults;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, BrokerConfig, BrokerError, BrokerState};
use crate::infra::proxy::NetworkMode;
use crate::model::result::{ExperimentResult, RunMeta};
use crate::report::{ReportError, RunFolder};
use crate::spec::{ExperimentSpec, Profile};

pub use events::{Event, Reporter, Silent};
pub use experiment::{run_experiment, ExperimentError};

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
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub folder: PathBuf,
    pub meta: RunMeta,
    pub results: Vec<ExperimentResult>,
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

/// A topic name for an experiment of a run (Kafka allows `[a-zA-Z0-9._-]`).
pub fn topic_name(run_id: &str, experiment: &str) -> String {
    let clean: String = format!("kc-{run_id}-{experiment}")
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

/// Runs the specs one after another on one broker, writing results as it
/// goes. Returns when all ran, or with [`RunError::Interrupted`] once
/// `cancel` fires (after removing the broker; finished results stay).
pub async fn run(
    specs: &[ExperimentSpec],
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
    cancel: &CancellationToken,
) -> Result<RunOutcome, RunError> {
    let run_id = new_run_id();
    let mut base = opts.broker.clone();
    base.run_label = format!("run-{run_id}");
    let Some(first) = specs.first() else {
        return Err(RunError::Broker(BrokerError::Admin(
            "no experiment to run".into(),
        )));
    };
    let mut cfg = config_for(&base, first);

    reporter.event(Event::BrokerStarting {
        backend: cfg.backend.to_string(),
        brokers: cfg.brokers,
    });
    let t = Instant::now();
    let mut broker = tokio::select! {
        b = Broker::start(&cfg) => b?,
        _ = cancel.cancelled() => return Err(RunError::Interrupted),
    };
    let first_start = t.elapsed().as_secs_f64();
    let info = broker.info();
    reporter.event(Event::BrokerReady {
        info: &info,
        seconds: first_start,
    });

    let mut meta = RunMeta {
        run_id: run_id.clone(),
        started_at: chrono::Utc::now(),
        finished_at: None,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        librdkafka_version: rdkafka::util::get_rdkafka_version().1,
        backend: info.backend.to_string(),
        kafka_version: info.kafka_version.clone(),
        broker_source: info.source.clone(),
        profile: opts.profile.to_string(),
        command: opts.command.clone(),
        failed_experiments: Vec::new(),
    };
    let folder = match RunFolder::create(&opts.results_dir, &meta) {
        Ok(f) => f,
        Err(e) => {
            broker.remove().await;
            return Err(e.into());
        }
    };
    reporter.event(Event::RunFolder {
        path: folder.path(),
    });

    let mut results: Vec<ExperimentResult> = Vec::new();
    let mut interrupted = false;
    let total = specs.len();
    for (index, spec) in specs.iter().enumerate() {
        reporter.event(Event::ExperimentStarted { index, total, spec });
        let mut broker_start = if index == 0 { first_start } else { 0.0 };
        // A spec of another cluster shape gets a cluster of its own; specs
        // of the same shape in a row share one.
        let wanted = config_for(&base, spec);
        if !same_shape(&cfg, &wanted) {
            reporter.event(Event::BrokerStarting {
                backend: wanted.backend.to_string(),
                brokers: wanted.brokers,
            });
            let t = Instant::now();
            let fresh = tokio::select! {
                b = Broker::start(&wanted) => Some(b),
                _ = cancel.cancelled() => None,
            };
            match fresh {
                None => {
                    meta.failed_experiments
                        .push((spec.name.clone(), "interrupted".into()));
                    interrupted = true;
                    break;
                }
                Some(Ok(fresh)) => {
                    let old = std::mem::replace(&mut broker, fresh);
                    old.remove().await;
                    cfg = wanted;
                    broker_start = t.elapsed().as_secs_f64();
                    let info = broker.info();
                    reporter.event(Event::BrokerReady {
                        info: &info,
                        seconds: broker_start,
                    });
                }
                Some(Err(e)) => {
                    let msg = format!("broker: {e}");
                    reporter.event(Event::ExperimentFailed {
                        name: &spec.name,
                        error: &msg,
                    });
                    meta.failed_experiments.push((spec.name.clone(), msg));
                    if let Err(e) = folder.write_summary(&meta, &results) {
                        tracing::error!("cannot write the summary: {e}");
                    }
                    continue;
                }
            }
        }
        let topic = topic_name(&run_id, &spec.name);
        let wall = Instant::now();
        let outcome = tokio::select! {
            r = run_experiment(&mut broker, spec, &topic, &cfg, broker_start, reporter) => Some(r),
            _ = cancel.cancelled() => None,
        };
        match outcome {
            None => {
                interrupted = true;
                meta.failed_experiments
                    .push((spec.name.clone(), "interrupted".into()));
            }
            Some(Ok(mut result)) => {
                reporter.event(Event::Phase {
                    name: "writing reports",
                });
                let t = Instant::now();
                let written = folder.write_experiment(&result);
                result.phases.reporting = t.elapsed().as_secs_f64();
                result.phases.wall = wall.elapsed().as_secs_f64() + broker_start;
                match written {
                    Ok(files) => {
                        reporter.event(Event::ExperimentFinished {
                            result: &result,
                            files: &files,
                        });
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        reporter.event(Event::ExperimentFailed {
                            name: &spec.name,
                            error: &msg,
                        });
                        meta.failed_experiments.push((spec.name.clone(), msg));
                    }
                }
                results.push(result);
            }
            Some(Err(e)) => {
                let msg = format!("{e:#}");
                reporter.event(Event::ExperimentFailed {
                    name: &spec.name,
                    error: &msg,
                });
                meta.failed_experiments.push((spec.name.clone(), msg));
            }
        }
        // Rewrite the summary after every experiment, so a crash keeps it.
        if let Err(e) = folder.write_summary(&meta, &results) {
            tracing::error!("cannot write the summary: {e}");
        }
        if interrupted {
            break;
        }
        if index + 1 < total {
            if let Err(e) = ensure_healthy(&mut broker, &cfg, cancel).await {
                // The broker cannot be brought back: the rest cannot run.
                let msg = format!("broker unavailable: {e}");
                for s in &specs[index + 1..] {
                    reporter.event(Event::ExperimentFailed {
                        name: &s.name,
                        error: &msg,
                    });
                    meta.failed_experiments.push((s.name.clone(), msg.clone()));
                }
                break;
            }
        }
    }

    broker.remove().await;
    meta.finished_at = Some(chrono::Utc::now());
    folder.write_summary(&meta, &results)?;
    reporter.event(Event::RunFinished {
        folder: folder.path(),
        results: &results,
        failed: &meta.failed_experiments,
    });
    if interrupted {
        return Err(RunError::Interrupted);
    }
    Ok(RunOutcome {
        folder: folder.path().to_path_buf(),
        failed: meta.failed_experiments.clone(),
        meta,
        results,
    })
}

/// The broker configuration a spec runs on: the run's, with the spec's
/// cluster shape.
pub fn config_for(base: &BrokerConfig, spec: &ExperimentSpec) -> BrokerConfig {
    let mut c = base.clone();
    c.brokers = spec.brokers;
    c.properties = spec.broker_properties.clone();
    c.storage = spec.storage;
    c.features = spec.features.clone();
    c
}

/// Whether two configurations start the same cluster.
fn same_shape(a: &BrokerConfig, b: &BrokerConfig) -> bool {
    a.brokers == b.brokers
        && a.properties == b.properties
        && a.data_dirs == b.data_dirs
        && a.storage == b.storage
        && a.features == b.features
}

/// Between experiments: every node must be running and answering; if one is
/// not (an experiment failed half-way), restart it, or start a fresh cluster.
async fn ensure_healthy(
    broker: &mut Broker,
    cfg: &BrokerConfig,
    cancel: &CancellationToken,
) -> Result<(), BrokerError> {
    let t = Duration::from_secs(30);
    // A network fault that was not healed must not leak into the next one.
    broker.set_network(NetworkMode::Pass);
    broker.heal_links();
    let healthy = broker.state() != BrokerState::Removed
        && broker.resume().await.is_ok()
        && broker.restart(cfg.ready_timeout).await.is_ok()
        && broker.wait_ready(t).await.is_ok();
    if healthy || cancel.is_cancelled() {
        return Ok(());
    }
    tracing::warn!("the broker did not recover; starting a fresh one");
    let fresh = Broker::start(cfg).await?;
    let old = std::mem::replace(broker, fresh);
    old.remove().await;
    Ok(())
}
