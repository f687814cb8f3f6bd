//! One job of a run: a worker that takes experiment runs from the run's
//! queue one at a time, each on a broker (or cluster) of its own — its own
//! ports, its own JVMs or containers — and tells the runner what happens
//! through [`Msg`]s. A job keeps its broker for the next run of the same
//! shape (brokers, properties), checking between runs that every node
//! answers. When no run of that shape is left it removes the broker, gives
//! its node slots back, and takes a run that fits in the free slots
//! ([`super::queue`]). It removes its broker when the queue is empty, on
//! error, and when the run stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::events::{Progress, ProgressSink};
use super::experiment::run_experiment;
use super::queue::{RunQueue, Slots};
use super::units::Unit;
use crate::broker::{Broker, BrokerConfig, BrokerError, BrokerInfo, BrokerState};
use crate::infra::proxy::NetworkMode;
use crate::model::result::ExperimentResult;
use crate::spec::ExperimentSpec;

/// What a job tells the runner.
#[derive(Debug)]
pub(super) enum Msg {
    BrokerStarting {
        job: usize,
        backend: String,
        brokers: usize,
    },
    BrokerReady {
        job: usize,
        info: BrokerInfo,
        seconds: f64,
    },
    /// No run left fits in the node slots free now: the job waits for
    /// another to give its cluster's slots back.
    WaitingForSlots {
        job: usize,
        free: usize,
        needed: usize,
    },
    /// The broker a run needs did not start (the run is not done).
    BrokerFailed {
        job: usize,
        unit: usize,
        error: BrokerError,
    },
    Started {
        job: usize,
        unit: usize,
    },
    Progress {
        job: usize,
        progress: Progress,
    },
    Finished {
        job: usize,
        unit: usize,
        result: Box<ExperimentResult>,
        /// From taking the run (its broker start included) to its result.
        seconds: f64,
    },
    Failed {
        job: usize,
        unit: usize,
        error: String,
    },
}

/// Everything a job needs; owned, so a job runs as a task of its own.
pub(super) struct JobContext {
    pub job: usize,
    pub run_id: String,
    /// The run's broker configuration (shapes come from the specs).
    pub base: BrokerConfig,
    pub units: Arc<Vec<Unit>>,
    /// The runs not taken yet, and the node slots over all jobs
    /// ([`super::capacity::node_slots`]); a job holds as many as its
    /// cluster has nodes while it keeps it.
    pub queue: Arc<RunQueue>,
    pub tx: UnboundedSender<Msg>,
    /// Fires on Ctrl+C, or when the run cannot go on.
    pub stop: CancellationToken,
}

impl JobContext {
    fn send(&self, msg: Msg) {
        // The runner outlives its jobs; a closed channel means it is gone.
        let _ = self.tx.send(msg);
    }
}

/// Runs experiments until the queue is empty or `stop` fires; removes its
/// broker before it returns.
pub(super) async fn job(ctx: JobContext) {
    let mut current: Option<(Broker, BrokerConfig)> = None;
    // The node slots of `current`'s cluster (none without one).
    let mut held: Option<Slots> = None;
    while !ctx.stop.is_cancelled() {
        let same = current.as_ref().and_then(|(_, c)| ctx.queue.take_same(c));
        let reuse = same.is_some();
        let u = match same {
            Some(u) => u,
            None => {
                // No run of this shape is left: the cluster and its slots
                // go back before waiting for a run that fits.
                if let Some((old, _)) = current.take() {
                    old.remove().await;
                }
                drop(held.take());
                let waiting = |free, needed| {
                    ctx.send(Msg::WaitingForSlots {
                        job: ctx.job,
                        free,
                        needed,
                    })
                };
                match ctx.queue.take_fitting(&ctx.stop, waiting).await {
                    Some((u, slots)) => {
                        held = Some(slots);
                        u
                    }
                    None => break,
                }
            }
        };
        let unit = &ctx.units[u];
        let taken = Instant::now();
        let wanted = config_for(&ctx.base, &unit.spec);
        let mut broker_start = 0.0;
        if reuse {
            if let Some((broker, cfg)) = current.as_mut() {
                if let Err(e) = ensure_healthy(broker, cfg, &ctx.stop).await {
                    // The broker cannot be brought back: drop it; the next
                    // run starts a fresh one.
                    ctx.send(Msg::Failed {
                        job: ctx.job,
                        unit: u,
                        error: format!("broker unavailable: {e}"),
                    });
                    if let Some((b, _)) = current.take() {
                        b.remove().await;
                    }
                    drop(held.take());
                    continue;
                }
            }
        } else {
            // A run of another shape gets a broker of its own (its slots
            // are held); runs of the same shape share one.
            let begun = Instant::now();
            ctx.send(Msg::BrokerStarting {
                job: ctx.job,
                backend: wanted.backend.to_string(),
                brokers: wanted.brokers,
            });
            let started = tokio::select! {
                b = Broker::start(&wanted) => Some(b),
                _ = ctx.stop.cancelled() => None,
            };
            match started {
                None => {
                    ctx.send(Msg::Failed {
                        job: ctx.job,
                        unit: u,
                        error: "interrupted".into(),
                    });
                    break;
                }
                Some(Err(error)) => {
                    drop(held.take());
                    ctx.send(Msg::BrokerFailed {
                        job: ctx.job,
                        unit: u,
                        error,
                    });
                    continue;
                }
                Some(Ok(b)) => {
                    broker_start = begun.elapsed().as_secs_f64();
                    ctx.send(Msg::BrokerReady {
                        job: ctx.job,
                        info: b.info(),
                        seconds: broker_start,
                    });
                    current = Some((b, wanted));
                }
            }
        }
        let Some((broker, cfg)) = current.as_mut() else {
            continue;
        };
        ctx.send(Msg::Started {
            job: ctx.job,
            unit: u,
        });
        let topic = super::topic_name(&ctx.run_id, &unit.stem());
        let mut sink = JobSink::new(ctx.job, ctx.tx.clone());
        let outcome = tokio::select! {
            r = run_experiment(broker, &unit.spec, &topic, cfg, broker_start, &mut sink) => Some(r),
            _ = ctx.stop.cancelled() => None,
        };
        // A cluster the harness does not run keeps none of its topics
        // (unless --keep-topics); a no-op on the harness's own brokers.
        broker.drop_topic(&topic).await;
        match outcome {
            None => {
                ctx.send(Msg::Failed {
                    job: ctx.job,
                    unit: u,
                    error: "interrupted".into(),
                });
                break;
            }
            Some(Ok(mut result)) => {
                result.repetition = unit.repetition;
                result.repetitions = unit.repetitions;
                result.plan = Some(unit.plan.clone());
                ctx.send(Msg::Finished {
                    job: ctx.job,
                    unit: u,
                    result: Box::new(result),
                    seconds: taken.elapsed().as_secs_f64(),
                });
            }
            Some(Err(e)) => ctx.send(Msg::Failed {
                job: ctx.job,
                unit: u,
                error: format!("{e:#}"),
            }),
        }
    }
    if let Some((b, _)) = current {
        b.remove().await;
    }
    drop(held);
}

/// Forwards one experiment's progress to the runner, records sent at most
/// about 200 times per experiment (a million records need no million
/// messages).
struct JobSink {
    job: usize,
    tx: UnboundedSender<Msg>,
    last_sent: u64,
}

impl JobSink {
    fn new(job: usize, tx: UnboundedSender<Msg>) -> Self {
        JobSink {
            job,
            tx,
            last_sent: 0,
        }
    }
}

impl ProgressSink for JobSink {
    fn progress(&mut self, progress: Progress) {
        if let Progress::RecordSent { sent, total } = progress {
            let step = (total / 200).max(1);
            if sent < total && sent < self.last_sent + step {
                return;
            }
            self.last_sent = sent;
        }
        let _ = self.tx.send(Msg::Progress {
            job: self.job,
            progress,
        });
    }
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
    if broker.external().is_some() {
        // Not the harness's to replace: the rest of the run cannot go on.
        return broker.wait_ready(cfg.ready_timeout).await;
    }
    tracing::warn!("the broker did not recover; starting a fresh one");
    let fresh = Broker::start(cfg).await?;
    let old = std::mem::replace(broker, fresh);
    old.remove().await;
    Ok(())
}
