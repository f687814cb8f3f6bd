//! One experiment, phase by phase: a fresh topic, the producer with the
//! fault injected (at the gate, [`crate::produce::gate`]) and healed on its
//! way ([`super::faults`]), the read-back to the topic's stable end, the
//! verdicts — and whether the experiment did what its spec asks
//! ([`crate::model::integrity`]).

use std::time::{Duration, Instant};

use super::events::{Progress, ProgressSink};
use super::faults::{run_faults, FaultContext, FaultStep};
use crate::broker::{Broker, BrokerConfig, BrokerError};
use crate::chaos::target::Draws;
use crate::infra::proxy::NetworkMode;
use crate::model::integrity::{self, HandOff};
use crate::model::result::{
    ClusterFacts, ExperimentResult, LatencyStats, PartitionAfter, PhaseTimings,
};
use crate::produce::gate::{self, FaultGate};
use crate::produce::{self, ModeError, ProduceJob};
use crate::report::ReportError;
use crate::spec::ExperimentSpec;
use crate::verify::readback::{self, Isolation, ReadbackError};
use crate::verify::verifier;

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

/// One experiment, phases 1 to 7 (reports are written by the caller).
/// `spec` runs as it is: a spec that draws values is planned first
/// ([`crate::chaos::plan::planned`]); the caller sets the result's
/// repetition and plan.
pub async fn run_experiment(
    broker: &mut Broker,
    spec: &ExperimentSpec,
    topic: &str,
    cfg: &BrokerConfig,
    broker_start: f64,
    progress: &mut dyn ProgressSink,
) -> Result<ExperimentResult, ExperimentError> {
    let mut phases = PhaseTimings {
        broker_start,
        asked: spec.asked_seconds(),
        ..Default::default()
    };
    // 1. A fresh topic. On lazyfs storage, what the cluster wrote before
    // this experiment is made durable first, so that a power cut loses only
    // the experiment's unsynced writes (the kernel would have written older
    // dirty pages back by then: it does after 30 s).
    let t = Instant::now();
    broker.checkpoint_storage()?;
    broker.set_network(NetworkMode::Pass);
    broker
        .create_topic_with(
            topic,
            spec.partitions,
            spec.replication_factor,
            &spec.topic_configs,
        )
        .await?;
    phases.broker_start += t.elapsed().as_secs_f64();
    // The harness reads back directly; the producer goes through the chaos
    // proxy, where network faults happen.
    let bootstrap = broker.bootstrap().to_string();
    let client_bootstrap = broker.client_bootstrap().to_string();

    // 2–5. Produce, with the fault injected after `fault_after` records
    // (the producer waits at the gate until it is in force) and healed after
    // the downtime (or when the producer ends).
    progress.progress(Progress::Phase("producing"));
    let origin = Instant::now();
    let steps = FaultStep::of(spec);
    let (gate, side) = FaultGate::new(steps.iter().map(|s| s.after).collect(), gate::DEFAULT_WAIT);
    let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
    let (note_tx, mut note_rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let fault_side = run_faults(
        broker,
        &steps,
        side,
        ended_rx,
        FaultContext {
            topic,
            run_id: cfg.run_label.strip_prefix("run-").unwrap_or(&cfg.run_label),
            origin,
            ready_timeout: cfg.ready_timeout,
            draws: Draws::new(spec.seed.unwrap_or_default()),
            notes: note_tx,
        },
    );
    let produce_side = async {
        let job = ProduceJob {
            spec,
            bootstrap: &client_bootstrap,
            topic,
            origin,
            gate: &gate,
        };
        let total = spec.records;
        let mut observer = |sent: u64, _at: f64| {
            progress.progress(Progress::RecordSent { sent, total });
            while let Ok(p) = note_rx.try_recv() {
                progress.progress(p);
            }
        };
        let produced = produce::produce(job, &mut observer).await;
        // The producer is done, whether or not it reached every trigger
        // point (it may have failed to start): release the fault side.
        gate.close();
        let _ = ended_tx.send(());
        produced
    };

    let (produced, faults) = tokio::join!(produce_side, fault_side);
    while let Ok(p) = note_rx.try_recv() {
        progress.progress(p);
    }
    let produced = produced?;
    faults.healed?;
    phases.produce = (produced.ended - produced.first_send).max(0.0);
    phases.recovery = faults.recovery;
    phases.outage = faults
        .windows
        .iter()
        .flatten()
        .map(|w| w.end.unwrap_or(produced.ended) - w.start)
        .sum();

    // Did the experiment do what its spec asks?
    let handed_over = produced.ledger.len() as u64;
    let handoffs = gate.outcomes();
    let mut integrity = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let kind = step.kind.to_string();
        let check = integrity::FaultStep {
            kind: &kind,
            after: step.after,
            handoff: handoffs.get(i).copied().unwrap_or(HandOff::NotReached),
            window: faults.windows.get(i).and_then(Option::as_ref),
            error: faults.errors.get(i).and_then(Option::as_deref),
        };
        integrity.extend(integrity::fault_reasons(
            &check,
            spec.fault_tolerance,
            handed_over,
        ));
    }
    integrity.extend(integrity::completeness_reason(spec.records, handed_over));

    // 6. The broker answers again; fix the end of the topic once no
    // transaction is open, and read it back to there.
    progress.progress(Progress::Phase("reading back"));
    let t = Instant::now();
    broker.wait_ready(cfg.ready_timeout).await?;
    let cluster = cluster_before_readback(broker, spec, topic).await;
    if let Some(state) = &cluster.not_in_sync {
        integrity.push(format!(
            "read-back began before every partition had a leader and a full ISR ({:.0} s): {state}",
            cluster.in_sync_wait
        ));
    }
    let read_timeout = Duration::from_secs(60 + spec.records / 10_000);
    let end = readback::stable_end(&bootstrap, topic, settle_bound(spec)).await?;
    phases.settle_wait = end.waited.as_secs_f64();
    for p in end.unsettled() {
        integrity.push(integrity::unsettled_reason(
            p.partition,
            p.stable,
            p.high,
            phases.settle_wait,
        ));
    }
    if end.unsettled().next().is_some() {
        // A transaction the brokers never completed: what they logged is
        // the only account of why (the coordinator's reload, its markers).
        let tail = broker.log_tail(UNSETTLED_LOG_LINES).await;
        if !tail.is_empty() {
            tracing::warn!(
                "{}: the read-back could not settle; the brokers' last {UNSETTLED_LOG_LINES} log lines each:\n{tail}",
                spec.name
            );
        }
    }
    let consumed = readback::read_to(
        &bootstrap,
        topic,
        &end,
        read_timeout,
        Isolation::ReadCommitted,
    )
    .await?;

    // Transactional mode: also read what aborted transactions left.
    let aborted = if spec.mode == crate::spec::Mode::Transactional {
        let all = readback::read_to(
            &bootstrap,
            topic,
            &end,
            read_timeout,
            Isolation::ReadUncommitted,
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
    for reason in &integrity {
        tracing::warn!("{}: not verified: {reason}", spec.name);
    }

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
        faults: faults.windows.into_iter().flatten().collect(),
        phases,
        checks,
        notes: produced.notes,
        integrity,
        cluster: cluster_after_readback(broker, topic, cluster, &end).await,
        // The spec as written, for the report (a spec file is small).
        spec: Some(spec.facts(std::fs::read_to_string(&spec.file).ok())),
        repetition: 1,
        repetitions: 1,
        plan: None,
    })
}

/// How long a read-back waits for every partition to have a leader and a
/// full ISR before it reads anyway (and the experiment is not verified).
const IN_SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines of each broker's log printed when the read-back cannot settle.
const UNSETTLED_LOG_LINES: usize = 200;

/// On a cluster, waits (bounded) until every partition of the topic has a
/// leader and a full ISR, so the read-back sees what the cluster settled on.
async fn cluster_before_readback(
    broker: &Broker,
    spec: &ExperimentSpec,
    topic: &str,
) -> ClusterFacts {
    let mut facts = ClusterFacts {
        brokers: broker.brokers(),
        replication_factor: spec.replication_factor,
        storage: spec.storage.to_string(),
        features: spec.features.clone(),
        properties: spec
            .broker_properties
            .iter()
            .chain(&spec.topic_configs)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..Default::default()
    };
    if broker.brokers() > 1 {
        match broker.wait_in_sync(topic, IN_SYNC_TIMEOUT).await {
            Ok(waited) => facts.in_sync_wait = waited.as_secs_f64(),
            Err((waited, state)) => {
                facts.in_sync_wait = waited.as_secs_f64();
                facts.not_in_sync = Some(state);
            }
        }
    }
    facts
}

/// Records each partition's leader and ISR, and each replica's log end.
async fn cluster_after_readback(
    broker: &Broker,
    topic: &str,
    mut facts: ClusterFacts,
    end: &readback::TopicEnd,
) -> ClusterFacts {
    if let Ok(parts) = broker.partition_state(topic).await {
        facts.partitions = parts
            .into_iter()
            .map(|p| PartitionAfter {
                partition: p.partition,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                high_watermark: end
                    .partitions
                    .iter()
                    .find(|e| e.partition == p.partition)
                    .map_or(-1, |e| e.high),
                replicas: p.replicas,
                isr: p.isr,
            })
            .collect();
    }
    match broker.replica_ends(topic).await {
        Ok(ends) => facts.replicas = ends,
        Err(e) => tracing::debug!("replica ends of {topic}: {e}"),
    }
    facts
}

/// How long the read-back waits for open transactions to end: a
/// transaction left open by a producer that died is aborted by the
/// coordinator after `transaction.timeout.ms`; 30 s more for its markers.
/// Without transactions, 30 s.
fn settle_bound(spec: &ExperimentSpec) -> Duration {
    let slack = Duration::from_secs(30);
    if spec.mode == crate::spec::Mode::Transactional {
        spec.transaction_timeout() + slack
    } else {
        slack
    }
}
