//! The runner: one experiment after another, phase by phase, on one broker.
//!
//! Like nextest's runner it never prints: it emits [`Event`]s, and a
//! [`Reporter`] (the console, a test) shows them. Results of each finished
//! experiment are written to the run folder before the next one starts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, BrokerConfig, BrokerError, BrokerInfo, BrokerState};
use crate::chaos::fault;
use crate::infra::proxy::NetworkMode;
use crate::model::result::{ExperimentResult, FaultWindow, LatencyStats, PhaseTimings, RunMeta};
use crate::produce::{self, ModeError, ProduceJob};
use crate::report::{ReportError, RunFolder};
use crate::spec::{ExperimentSpec, FaultKind, Heal, Profile};
use crate::verify::readback::{self, ReadbackError};
use crate::verify::verifier;

/// What the runner tells its reporter.
#[derive(Debug)]
pub enum Event<'a> {
    BrokerStarting {
        backend: String,
    },
    BrokerReady {
        info: &'a BrokerInfo,
        seconds: f64,
    },
    RunFolder {
        path: &'a Path,
    },
    ExperimentStarted {
        index: usize,
        total: usize,
        spec: &'a ExperimentSpec,
    },
    RecordSent {
        sent: u64,
        total: u64,
    },
    FaultInjected {
        kind: FaultKind,
        after: u64,
        at: f64,
    },
    FaultHealed {
        kind: FaultKind,
        at: f64,
    },
    Phase {
        name: &'static str,
    },
    ExperimentFinished {
        result: &'a ExperimentResult,
        files: &'a [PathBuf],
    },
    ExperimentFailed {
        name: &'a str,
        error: &'a str,
    },
    RunFinished {
        folder: &'a Path,
        results: &'a [ExperimentResult],
        failed: &'a [(String, String)],
    },
}

/// Consumes the runner's events.
pub trait Reporter: Send {
    fn event(&mut self, event: Event<'_>);
}

/// A reporter that ignores everything (for tests and library use).
pub struct Silent;

impl Reporter for Silent {
    fn event(&mut self, _: Event<'_>) {}
}

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

/// Errors that stop one experiment (the run goes on with the next).
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("producer: {0}")]
    Mode(#[from] ModeError),
    #[error("read back: {0}")]
    Readback(#[from] ReadbackError),
    #[error("reports: {0}")]
    Report(#[from] ReportError),
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
    let mut cfg = opts.broker.clone();
    cfg.run_label = format!("run-{run_id}");

    reporter.event(Event::BrokerStarting {
        backend: cfg.backend.to_string(),
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
        let broker_start = if index == 0 { first_start } else { 0.0 };
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

/// Between experiments: the broker must be running and answering; if it is
/// not (an experiment failed half-way), restart it, or start a fresh one.
async fn ensure_healthy(
    broker: &mut Broker,
    cfg: &BrokerConfig,
    cancel: &CancellationToken,
) -> Result<(), BrokerError> {
    let t = Duration::from_secs(30);
    // A network fault that was not healed must not leak into the next one.
    broker.set_network(NetworkMode::Pass);
    let healthy = match broker.state() {
        BrokerState::Running => broker.wait_ready(t).await.is_ok(),
        BrokerState::Paused => broker.resume().await.is_ok() && broker.wait_ready(t).await.is_ok(),
        BrokerState::Stopped => broker.restart(cfg.ready_timeout).await.is_ok(),
        BrokerState::Removed => false,
    };
    if healthy || cancel.is_cancelled() {
        return Ok(());
    }
    tracing::warn!("the broker did not recover; starting a fresh one");
    let fresh = Broker::start(cfg).await?;
    let old = std::mem::replace(broker, fresh);
    old.remove().await;
    Ok(())
}

/// One experiment, phases 1 to 7 (reports are written by the caller).
pub async fn run_experiment(
    broker: &mut Broker,
    spec: &ExperimentSpec,
    topic: &str,
    cfg: &BrokerConfig,
    broker_start: f64,
    reporter: &mut dyn Reporter,
) -> Result<ExperimentResult, ExperimentError> {
    let downtime = match spec.heal {
        Heal::After(d) if spec.fault != FaultKind::None => d.as_secs_f64(),
        _ => 0.0,
    };
    let mut phases = PhaseTimings {
        broker_start,
        asked: spec.records as f64 * spec.pause.as_secs_f64() + downtime,
        ..Default::default()
    };
    // 1. A fresh topic.
    let t = Instant::now();
    broker.set_network(NetworkMode::Pass);
    broker.create_topic(topic, spec.partitions).await?;
    phases.broker_start += t.elapsed().as_secs_f64();
    // The harness reads back directly; the producer goes through the chaos
    // proxy, where network faults happen.
    let bootstrap = broker.bootstrap().to_string();
    let client_bootstrap = broker.client_bootstrap().to_string();

    // 2–5. Produce, with the fault injected after `fault_after` records and
    // healed after the downtime (or when the producer ends).
    reporter.event(Event::Phase { name: "producing" });
    let origin = Instant::now();
    let (trigger_tx, trigger_rx) = tokio::sync::oneshot::channel::<()>();
    let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
    let (note_tx, mut note_rx) = tokio::sync::mpsc::unbounded_channel::<Event<'static>>();
    let mut trigger = Some(trigger_tx);
    if spec.fault != FaultKind::None && spec.fault_after == 0 {
        if let Some(t) = trigger.take() {
            let _ = t.send(());
        }
    }

    let fault_after = spec.fault_after;
    let kind = spec.fault;
    let the_fault = fault::Fault::of(spec);
    let heal_plan = spec.heal;
    let ready_timeout = cfg.ready_timeout;
    let fault_side = async {
        let mut window: Option<FaultWindow> = None;
        let mut recovery = 0.0;
        if kind == FaultKind::None || trigger_rx.await.is_err() {
            return (Ok::<(), BrokerError>(()), window, recovery);
        }
        let start = origin.elapsed().as_secs_f64();
        if let Err(e) = fault::inject(broker, the_fault).await {
            return (Err(e), window, recovery);
        }
        let _ = note_tx.send(Event::FaultInjected {
            kind,
            after: fault_after,
            at: start,
        });
        window = Some(FaultWindow {
            kind: kind.to_string(),
            start,
            end: None,
            after_records: fault_after,
        });
        match heal_plan {
            Heal::After(d) => tokio::time::sleep(d).await,
            Heal::WhenProducerEnds => {
                let _ = ended_rx.await;
            }
        }
        let heal_start = Instant::now();
        let healed = fault::heal(broker, the_fault, ready_timeout).await;
        recovery = heal_start.elapsed().as_secs_f64();
        if healed.is_ok() {
            let end = origin.elapsed().as_secs_f64();
            if let Some(w) = window.as_mut() {
                w.end = Some(end);
            }
            let _ = note_tx.send(Event::FaultHealed { kind, at: end });
        }
        (healed, window, recovery)
    };

    let produce_side = async {
        let job = ProduceJob {
            spec,
            bootstrap: &client_bootstrap,
            topic,
            origin,
        };
        let total = spec.records;
        let mut observer = |sent: u64, _at: f64| {
            if sent == fault_after {
                if let Some(t) = trigger.take() {
                    let _ = t.send(());
                }
            }
            reporter.event(Event::RecordSent { sent, total });
            while let Ok(ev) = note_rx.try_recv() {
                reporter.event(ev);
            }
        };
        let produced = produce::produce(job, &mut observer).await;
        // The producer is done, whether or not it reached `fault_after`
        // (it may have failed to start): release the fault side.
        drop(trigger.take());
        let _ = ended_tx.send(());
        produced
    };

    let (produced, (healed, window, recovery)) = tokio::join!(produce_side, fault_side);
    while let Ok(ev) = note_rx.try_recv() {
        reporter.event(ev);
    }
    let produced = produced?;
    healed?;
    phases.produce = (produced.ended - produced.first_send).max(0.0);
    phases.recovery = recovery;
    if let Some(w) = &window {
        phases.outage = w.end.unwrap_or(produced.ended) - w.start;
    }

    // 6. The broker answers again; read the topic back to its high watermarks.
    reporter.event(Event::Phase {
        name: "reading back",
    });
    let t = Instant::now();
    broker.wait_ready(cfg.ready_timeout).await?;
    let read_timeout = Duration::from_secs(60 + spec.records / 10_000);
    let consumed = readback::read_topic(&bootstrap, topic, read_timeout).await?;

    // Transactional mode: also read what aborted transactions left.
    let aborted = if spec.mode == crate::spec::Mode::Transactional {
        let all = readback::read_topic_with(
            &bootstrap,
            topic,
            read_timeout,
            readback::Isolation::ReadUncommitted,
        )
        .await?;
        verifier::count_aborted(&consumed, &all)
    } else {
        0
    };

    // 7. Verify.
    let mut verification = verifier::verify(&produced.ledger.entries, &consumed);
    verification.counts.aborted = aborted;
    phases.verification = t.elapsed().as_secs_f64();

    let send_span = (produced.ended - produced.first_send).max(1e-6);
    let checks = spec
        .expect
        .iter()
        .map(|e| e.check(&verification.counts))
        .collect();
    Ok(ExperimentResult {
        name: spec.name.clone(),
        mode: spec.mode_label(),
        description: spec.description.clone(),
        topic: topic.to_string(),
        fault: spec.fault.to_string(),
        client_settings: spec.client.clone(),
        pause: spec.pause.as_secs_f64(),
        throughput: produced.ledger.len() as f64 / send_span,
        latency: LatencyStats::from_ledger(&produced.ledger),
        ledger: produced.ledger,
        verification,
        faults: window.into_iter().collect(),
        phases,
        checks,
        notes: produced.notes,
    })
}
