//! Sync latency: the harness's sync mode against ProducerPerformance
//! throttled to one record per round trip and kcat with a local queue of
//! one message.

use super::kcat::run_kcat;
use super::on_broker::{last_report, pause_between, produce, settle_watermark, OnBroker};
use super::perf::run_perf;
use super::stats::percentile;
use super::{BenchReport, LatencyRow, Subject, SYNC_HARNESS, SYNC_KCAT, SYNC_PERF};
use crate::model::ledger::LedgerEntry;
use crate::model::ledger::Outcome;
use crate::spec::ExperimentSpec;

pub(super) fn lat_row(name: &str, subject: Subject, clock: &str) -> LatencyRow {
    LatencyRow {
        name: name.to_string(),
        subject,
        p50_ms: Vec::new(),
        p99_ms: Vec::new(),
        max_ms: Vec::new(),
        per_record_ms: Vec::new(),
        clock: clock.to_string(),
        error: None,
    }
}

/// Measures sync latency in `repetitions` rounds and fills
/// `report.latency` (and notes).
pub(super) async fn measure(
    on: &OnBroker<'_>,
    sync_spec: &ExperimentSpec,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let args = on.args;
    let t = on;
    let bootstrap = &on.bootstrap;
    let kafka_home = &on.kafka_home;
    let perf_ok = &on.perf_ok;
    let client = &on.client;
    let java_client = &on.java_client;
    let p = args.partitions;

    let sn = args.sync_records;
    let mut sync_h = lat_row(
        SYNC_HARNESS,
        Subject::Harness,
        "send() → its delivery report, per record; the next send waits for it",
    );
    let mut sync_p = lat_row(
        SYNC_PERF,
        Subject::ProducerPerformance,
        "send() → callback, per record, as the tool reports it (whole ms)",
    );
    let mut sync_k = lat_row(
        SYNC_KCAT,
        Subject::Kcat,
        "process wall time ÷ records (no per-record figures)",
    );
    if let Err(e) = &perf_ok {
        sync_p.error = Some(e.clone());
    }
    if let Some(e) = &report
        .throughput
        .iter()
        .find(|r| r.subject == Subject::Kcat)
        .and_then(|r| r.error.clone())
    {
        sync_k.error = Some(e.clone());
    }
    let mut java_sync = java_client.clone();
    java_sync.insert("max.in.flight.requests.per.connection".into(), "1".into());
    for rep in 1..=args.repetitions {
        let tag = format!("r{rep}");
        tracing::info!("sync-latency round {tag}");
        let topic = t.topic_with(&format!("sync-{tag}"), p).await?;
        let produced = produce(sync_spec, bootstrap, &topic).await?;
        let mut lat: Vec<f64> = produced
            .ledger
            .entries
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Acked { .. }))
            .filter_map(LedgerEntry::latency)
            .map(|s| s * 1e3)
            .collect();
        lat.sort_by(f64::total_cmp);
        if lat.len() as u64 != sn {
            report.notes.push(format!(
                "round {tag}: harness sync acknowledged {} of {sn} records",
                lat.len()
            ));
        }
        let span = last_report(&produced.ledger).unwrap_or(produced.ended) - produced.first_send;
        sync_h.p50_ms.push(percentile(&lat, 50.0));
        sync_h.p99_ms.push(percentile(&lat, 99.0));
        sync_h.max_ms.push(lat.last().copied().unwrap_or(f64::NAN));
        sync_h.per_record_ms.push(span * 1e3 / sn as f64);
        pause_between().await;

        if sync_p.error.is_none() {
            let topic = t.topic_with(&format!("psync-{tag}"), p).await?;
            let file = t.payload_file(&topic, sn, args.record_size)?;
            match run_perf(
                kafka_home,
                bootstrap,
                &topic,
                sn,
                &file,
                i64::from(args.sync_reference_rate),
                &java_sync,
            )
            .await
            {
                Ok(out) => {
                    sync_p.p50_ms.push(out.p50_ms);
                    sync_p.p99_ms.push(out.p99_ms);
                    sync_p.max_ms.push(out.max_ms);
                    // Its pace is the throttle's, not the round trip's: no
                    // per-record figure.
                }
                Err(e) => sync_p.error = Some(format!("{e:#}")),
            }
            let _ = std::fs::remove_file(&file);
            pause_between().await;
        }

        if sync_k.error.is_none() {
            let topic = t.topic_with(&format!("ksync-{tag}"), p).await?;
            let file = t.payload_file(&topic, sn, args.record_size)?;
            let one = [("queue.buffering.max.messages", "1")];
            match run_kcat(&args.kcat, bootstrap, &topic, &file, client, &one).await {
                Ok(wall) => {
                    let delivered = settle_watermark(bootstrap, &topic, sn).await?;
                    if delivered != sn {
                        report.notes.push(format!(
                            "round {tag}: kcat (1 in queue) delivered {delivered} of {sn}"
                        ));
                    }
                    sync_k.per_record_ms.push(wall * 1e3 / sn as f64);
                }
                Err(e) => sync_k.error = Some(format!("{e:#}")),
            }
            let _ = std::fs::remove_file(&file);
            pause_between().await;
        }
    }
    report.latency = vec![sync_h, sync_p, sync_k];
    Ok(())
}
