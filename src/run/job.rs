//! One job of a run: a worker that takes experiment runs from the run's
//! queue one at a time, each on a broker (or cluster) of its own — its own
//! ports, its own JVMs or containers — and tells the runner what happens
//! through [`Msg`]s. A job keeps its broker for the next run of the same
//! shape (brokers, properties), checking between runs that every node
//! answers, and starts a broker of another shape when the next run needs
//! one; it prefers the queue's first run of its current shape. It removes
//! its broker when the queue is empty, on error, and when the run stops.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::events::{Progress, ProgressSink};
use super::experiment::run_experiment;
use super::units::Unit;
use crate::broker::{Backend, Broker, BrokerConfig, BrokerError, BrokerInfo, BrokerState};
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
    /// Indices into `units` not taken yet, in order.
    pub queue: Arc<Mutex<VecDeque<usize>>>,
    pub tx: UnboundedSender<Msg>,
    /// Fires on Ctrl+C, or when the run cannot go on.
    pub stop: CancellationToken,
    /// Broker nodes that may run at once over all jobs
    /// ([`super::capacity::node_slots`]); a job holds as many as its
    /// cluster has nodes while it keeps it.
    pub slots: Arc<Semaphore>,
    pub slot_count: usize,
}

impl JobContext {
    fn send(&self, msg: Msg) {
        // The runner outlives its jobs; a closed channel means it is gone.
        let _ = self.tx.send(msg);
    }

    /// The next run: the first in the queue of `current`'s shape, else
    /// the first.
    fn take(&self, current: Option<&BrokerConfig>) -> Option<usize> {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let same = current.and_then(|cfg| {
            q.iter()
                .position(|&i| same_shape(cfg, &config_for(&self.base, &self.units[i].spec)))
        });
        q.remove(same.unwrap_or(0))
    }
}

/// Runs experiments until the queue is empty or `stop` fires; removes its
/// broker before it returns.
pub(super) async fn job(ctx: JobContext) {
    let mut current: Option<(Broker, BrokerConfig)> = None;
    // The node slots of `current`'s cluster (none without one).
    let mut held: Option<OwnedSemaphorePermit> = None;
    while !ctx.stop.is_cancelled() {
        let Some(u) = ctx.take(current.as_ref().map(|(_, c)| c)) else {
            break;
        };
        let unit = &ctx.units[u];
        let taken = Instant::now();
        let wanted = config_for(&ctx.base, &unit.spec);
        let mut broker_start = 0.0;
        let reuse = current
            .as_ref()
            .is_some_and(|(_, c)| same_shape(c, &wanted));
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
            // A run of another shape gets a broker of its own; runs of the
            // same shape share one.
            if let Some((old, _)) = current.take() {
                old.remove().await;
            }
            // Give back the old cluster's slots, then wait for the new
            // one's: never hold some while waiting for more.
            drop(held.take());
            let need = super::capacity::slots_for(wanted.brokers, ctx.slot_count);
            let permit = tokio::select! {
                p = Arc::clone(&ctx.slots).acquire_many_owned(need as u32) => p.ok(),
                _ = ctx.stop.cancelled() => None,
            };
            let Some(permit) = permit else {
                ctx.send(Msg::Failed {
                    job: ctx.job,
                    unit: u,
                    error: "interrupted".into(),
                });
                break;
            };
            held = Some(permit);
            // Time spent waiting for slots is not the broker's start.
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

/// Whether two configurations start the same cluster (a cluster the
/// harness does not run is the same for every spec).
pub(super) fn same_shape(a: &BrokerConfig, b: &BrokerConfig) -> bool {
    if a.backend == Backend::External && b.backend == Backend::External {
        return true;
    }
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
