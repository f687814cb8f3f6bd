//! The fault side of an experiment: for each fault of the spec, in order,
//! waits at the fault gate for the producer to reach its trigger point,
//! resolves its target (partition 0's leader, a follower, the controller, …)
//! through the cluster's metadata, injects it (its `begin`), lets the
//! producer go on, waits until it has taken hold (its `settle`; for
//! `power_loss` that includes the power cut of the nodes' storage, and the
//! window keeps what each node lost), and heals it on its schedule: after
//! its downtime (before the next fault), right after the next fault is in
//! force (`until-next-fault`), or once the producer has ended
//! (`until-producer-ends`).
//!
//! On a cluster the harness does not run, a step's act is its command
//! (`[commands.<fault>]`, [`crate::chaos::command`]): the inject command for
//! each node hit, a TCP check that stopped nodes went down, the heal
//! command, and the same readiness probe as for the harness's own brokers.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::events::Progress;
use crate::broker::{Broker, BrokerError};
use crate::chaos::command::{self, CommandContext, CommandRun};
use crate::chaos::fault::{self, Fault};
use crate::chaos::target::{self, Draws};
use crate::model::result::FaultWindow;
use crate::produce::FaultSide;
use crate::spec::commands::FaultCommand;
use crate::spec::{ExperimentSpec, FaultKind, Heal, Target};

/// One fault of an experiment: what, at whom, after how many records,
/// healed when.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultStep {
    pub kind: FaultKind,
    pub fault: Fault,
    pub target: Target,
    /// Injected when this many records have been handed to the client.
    pub after: u64,
    pub heal: Heal,
    /// The spec's command for this kind (used on an external cluster).
    pub command: Option<FaultCommand>,
}

impl FaultStep {
    /// The faults a spec asks for, in order.
    pub fn of(spec: &ExperimentSpec) -> Vec<FaultStep> {
        spec.faults
            .iter()
            .map(|s| {
                let mut fault = Fault::new(s.kind);
                fault.latency = s.latency.unwrap_or_default();
                fault.torn_write = s.torn_write;
                fault.seed = spec.seed.unwrap_or_default();
                FaultStep {
                    kind: s.kind,
                    fault,
                    target: s.target,
                    after: s.after,
                    heal: s.heal,
                    command: spec.commands.get(s.kind).cloned(),
                }
            })
            .collect()
    }
}

/// What the fault side did, per step.
#[derive(Debug)]
pub struct FaultsDone {
    /// The window of each step whose injection completed.
    pub windows: Vec<Option<FaultWindow>>,
    /// Why a step's injection failed.
    pub errors: Vec<Option<String>>,
    /// From the heals until the cluster answered, summed.
    pub recovery: f64,
    /// Whether the cluster was brought back (an error stops the experiment).
    pub healed: Result<(), BrokerError>,
}

/// Where a fault side runs: the experiment's topic, its time origin, the
/// bound of a heal, the seeded draws for `random` targets.
pub struct FaultContext<'a> {
    pub topic: &'a str,
    /// The run's id (for fault commands).
    pub run_id: &'a str,
    pub origin: Instant,
    pub ready_timeout: Duration,
    pub draws: Draws,
    pub notes: UnboundedSender<Progress>,
}

impl FaultContext<'_> {
    fn since(&self, t: Instant) -> f64 {
        t.duration_since(self.origin).as_secs_f64()
    }

    fn command(&self, broker: &Broker, kind: FaultKind) -> CommandContext {
        CommandContext {
            fault: kind,
            topic: self.topic.to_string(),
            partition: 0,
            run_id: self.run_id.to_string(),
            bootstrap: broker.bootstrap().to_string(),
            origin: self.origin,
        }
    }
}

/// The command a step runs instead of the harness's own act: on a cluster
/// the harness does not run only.
fn by_command<'s>(broker: &Broker, step: &'s FaultStep) -> Option<&'s FaultCommand> {
    broker.external().and(step.command.as_ref())
}

/// A fault waiting for its heal.
struct Pending {
    index: usize,
    fault: Fault,
    command: Option<FaultCommand>,
}

/// Runs the fault side until every step was healed, or the producer ended
/// before reaching the next one. `ended` fires when the producer has ended.
pub async fn run_faults(
    broker: &mut Broker,
    steps: &[FaultStep],
    mut side: FaultSide,
    ended: oneshot::Receiver<()>,
    mut ctx: FaultContext<'_>,
) -> FaultsDone {
    let mut done = FaultsDone {
        windows: vec![None; steps.len()],
        errors: vec![None; steps.len()],
        recovery: 0.0,
        healed: Ok(()),
    };
    let mut ended = Some(ended);
    // Faults healed right after the next one is in force, or at the end.
    let mut with_next: Vec<Pending> = Vec::new();
    let mut at_end: Vec<Pending> = Vec::new();
    let cluster = broker.brokers() > 1;
    for (i, step) in steps.iter().enumerate() {
        // The producer stands at the trigger point (or has ended).
        let Some(request) = side.next().await else {
            break;
        };
        let resolved = match target::resolve(broker, ctx.topic, step.target, &mut ctx.draws).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("resolving the target {} failed: {e}", step.target);
                done.errors[i] = Some(format!("target {}: {e}", step.target));
                drop(request);
                break;
            }
        };
        let the_fault = step.fault.clone().on(resolved.nodes.clone());
        let command = by_command(broker, step);
        let mut runs: Vec<CommandRun> = Vec::new();
        let begun = match command {
            Some(c) => {
                let cctx = ctx.command(broker, step.kind);
                runs = command::run_for_nodes(
                    broker,
                    &cctx,
                    "inject",
                    &c.inject,
                    &resolved.nodes,
                    c.timeout,
                )
                .await;
                match runs.iter().find(|r| !r.succeeded()) {
                    Some(r) => Err(r.failure()),
                    None => Ok(()),
                }
            }
            None => fault::begin(broker, &the_fault)
                .await
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = begun {
            tracing::warn!("injecting {} failed: {e}", step.kind);
            done.errors[i] = Some(e);
            // Dropping the request lets the producer go on at once.
            drop(request);
            if !runs.is_empty() {
                // What ran is kept; what it may have hit is healed.
                done.windows[i] = Some(FaultWindow {
                    kind: step.kind.to_string(),
                    start: ctx.since(Instant::now()),
                    after_records: step.after,
                    target: step.target.to_string(),
                    nodes: resolved.nodes.clone(),
                    commands: runs,
                    ..Default::default()
                });
                let p = Pending {
                    index: i,
                    fault: the_fault,
                    command: command.cloned(),
                };
                heal(broker, &mut done, &ctx, p).await;
            }
            break;
        }
        let injected_at = ctx.since(Instant::now());
        let sent = side.progress().sent();
        let acked = side.progress().acked();
        // In force: the producer goes on while the fault takes hold.
        request.in_force();
        let _ = ctx.notes.send(Progress::FaultInjected {
            kind: step.kind,
            after: step.after,
            sent,
            at: injected_at,
        });
        let settled = match command {
            // A command's stop: down once the nodes refuse connections.
            Some(_) if stops(step.kind) => Ok(fault::Settled {
                down: command::wait_unreachable(broker, &resolved.nodes, Duration::from_secs(30))
                    .await,
                power_cut: Vec::new(),
            }),
            Some(_) => Ok(fault::Settled::default()),
            None => fault::settle(broker, &the_fault).await,
        };
        let (settled_at, power_cut) = match settled {
            Ok(s) => (s.down.then(|| ctx.since(Instant::now())), s.power_cut),
            Err(e) => {
                tracing::warn!("waiting for {} to take hold: {e}", step.kind);
                if step.kind == FaultKind::PowerLoss {
                    // The power was not cut: the fault did not happen.
                    done.errors[i] = Some(e.to_string());
                }
                (None, Vec::new())
            }
        };
        for cut in &power_cut {
            let _ = ctx.notes.send(Progress::PowerCut {
                at: settled_at.unwrap_or(injected_at),
                cut: cut.clone(),
            });
        }
        done.windows[i] = Some(FaultWindow {
            kind: step.kind.to_string(),
            start: injected_at,
            end: None,
            after_records: step.after,
            injected_at,
            settled_at,
            sent_at_injection: sent,
            acked_at_injection: acked,
            // On one broker every target is that broker: say nothing.
            target: if cluster {
                step.target.to_string()
            } else {
                String::new()
            },
            nodes: if cluster { resolved.nodes } else { Vec::new() },
            leader_before: resolved.leadership,
            leader_after: None,
            downtime_s: match step.heal {
                Heal::After(d) => Some(d.as_secs_f64()),
                _ => None,
            },
            until_producer_ends: step.heal == Heal::WhenProducerEnds,
            latency_ms: (step.kind == FaultKind::Latency)
                .then_some(step.fault.latency.as_secs_f64() * 1000.0),
            commands: runs,
            power_cut,
        });
        // The previous fault waited for this one: undo it now, without
        // waiting for the whole cluster (this fault may keep it short).
        for p in with_next.drain(..) {
            undo(broker, &mut done, &ctx, p).await;
        }
        match step.heal {
            Heal::After(d) => {
                tokio::time::sleep(d).await;
                let p = Pending {
                    index: i,
                    fault: the_fault,
                    command: command.cloned(),
                };
                if !at_end.is_empty() {
                    // An earlier fault keeps nodes down until the producer
                    // ends: the cluster cannot be whole yet, so only undo
                    // this one (restart its nodes); the last heal waits.
                    undo(broker, &mut done, &ctx, p).await;
                } else if !heal(broker, &mut done, &ctx, p).await {
                    return done;
                }
            }
            Heal::WithNextFault => with_next.push(Pending {
                index: i,
                fault: the_fault,
                command: command.cloned(),
            }),
            Heal::WhenProducerEnds => at_end.push(Pending {
                index: i,
                fault: the_fault,
                command: command.cloned(),
            }),
        }
    }
    // Faults still waiting: their next fault never came, or they wait for
    // the producer's end.
    if !with_next.is_empty() || !at_end.is_empty() {
        if let Some(rx) = ended.take() {
            let _ = rx.await;
        }
        for p in with_next.into_iter().chain(at_end) {
            if !heal(broker, &mut done, &ctx, p).await {
                return done;
            }
        }
    }
    done
}

/// Heals a fault and waits until the whole cluster answers again. Returns
/// false when it could not be brought back (the error is kept in `done`).
async fn heal(
    broker: &mut Broker,
    done: &mut FaultsDone,
    ctx: &FaultContext<'_>,
    p: Pending,
) -> bool {
    let heal_start = Instant::now();
    let healed = match &p.command {
        Some(c) => {
            run_heal_command(broker, done, ctx, &p, c).await;
            broker.wait_ready(ctx.ready_timeout).await
        }
        None => fault::heal(broker, &p.fault, ctx.ready_timeout).await,
    };
    done.recovery += heal_start.elapsed().as_secs_f64();
    match healed {
        Ok(()) => {
            finish_window(broker, done, ctx, p.index, p.fault.kind).await;
            true
        }
        Err(e) => {
            done.healed = Err(e);
            false
        }
    }
}

/// Undoes a fault (restart, resume, reconnect) without waiting for the
/// whole cluster: another fault may be keeping part of it down.
async fn undo(broker: &mut Broker, done: &mut FaultsDone, ctx: &FaultContext<'_>, p: Pending) {
    if let Some(c) = &p.command {
        run_heal_command(broker, done, ctx, &p, c).await;
        finish_window(broker, done, ctx, p.index, p.fault.kind).await;
        return;
    }
    match fault::undo(broker, &p.fault).await {
        Ok(()) => finish_window(broker, done, ctx, p.index, p.fault.kind).await,
        Err(e) => {
            tracing::warn!("undoing {} failed: {e}", p.fault.kind);
            done.errors[p.index].get_or_insert(format!("undoing it failed: {e}"));
        }
    }
}

/// Runs a fault's heal command, if it has one, for the nodes it hit, and
/// keeps what ran with its window (a failed heal is a warning: the
/// readiness probe after it decides whether the cluster came back).
async fn run_heal_command(
    broker: &Broker,
    done: &mut FaultsDone,
    ctx: &FaultContext<'_>,
    p: &Pending,
    c: &FaultCommand,
) {
    let Some(text) = c.heal() else {
        return;
    };
    let cctx = ctx.command(broker, p.fault.kind);
    let runs = command::run_for_nodes(broker, &cctx, "heal", text, &p.fault.nodes, c.timeout).await;
    if let Some(Some(w)) = done.windows.get_mut(p.index) {
        w.commands.extend(runs);
    }
}

/// Faults that take nodes down (their commands' effect is checked).
fn stops(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::CleanShutdown
            | FaultKind::HardShutdown
            | FaultKind::CleanBounce
            | FaultKind::HardBounce
    )
}

async fn finish_window(
    broker: &Broker,
    done: &mut FaultsDone,
    ctx: &FaultContext<'_>,
    index: usize,
    kind: FaultKind,
) {
    let end = ctx.since(Instant::now());
    let after = target::leadership(broker, ctx.topic).await;
    if let Some(Some(w)) = done.windows.get_mut(index) {
        w.end = Some(end);
        w.leader_after = after;
    }
    let _ = ctx.notes.send(Progress::FaultHealed { kind, at: end });
}
