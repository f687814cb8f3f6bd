//! One experiment, phase by phase: a fresh topic, the producer with the
//! fault injected and healed on its way, the read-back, the verdicts.

use std::time::{Duration, Instant};

use super::events::{Event, Reporter};
use crate::broker::{Broker, BrokerConfig, BrokerError};
use crate::chaos::fault;
use crate::infra::proxy::NetworkMode;
use crate::model::result::{ExperimentResult, FaultWindow, LatencyStats, PhaseTimings};
use crate::produce::{self, ModeError, ProduceJob};
use crate::report::ReportError;
use crate::spec::{ExperimentSpec, FaultKind, Heal};
use crate::verify::readback::{self, ReadbackError};
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
    let latency = spec.latency;
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
            downtime_s: match heal_plan {
                Heal::After(d) => Some(d.as_secs_f64()),
                Heal::WhenProducerEnds => None,
            },
            until_producer_ends: heal_plan == Heal::WhenProducerEnds,
            latency_ms: latency.map(|d| d.as_secs_f64() * 1000.0),
            ..FaultWindow::new(kind.to_string(), start, fault_after)
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
        // The spec as written, for the report (a spec file is small).
        spec: Some(spec.facts(std::fs::read_to_string(&spec.file).ok())),
    })
}
