//! Throughput: the harness's async and fire-and-forget modes, kcat and
//! ProducerPerformance, the same records in interleaved rounds.
//!
//! The order within a round ([`round_order`]): the two ProducerPerformance
//! runs, then fire-and-forget, then the harness's async mode and kcat, the
//! pair the target compares, back to back and in turns (async first in
//! even rounds, kcat first in odd ones). So both follow the same
//! measurements, never a Java one directly: before, async always ran right
//! after ProducerPerformance with a 1 MB `batch.size` and kcat never did,
//! and whatever that leaves behind on the broker (its garbage, the page
//! cache's write-back) fell on async alone.

use super::kcat::run_kcat;
use super::on_broker::{last_report, pause_between, produce, settle_watermark, OnBroker};
use super::perf::run_perf;
use super::stats::{median, rate};
use super::{
    BenchReport, Subject, ThroughputRow, ASYNC_ACK, ASYNC_CLOSE, FF_DELIVERED, FF_HANDED, KCAT,
    PERF, PERF_BATCH, PERF_WALL,
};
use crate::model::ledger::Told;
use crate::spec::ExperimentSpec;

/// One of a round's measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measurement {
    Async,
    FireAndForget,
    Kcat,
    Perf,
    PerfBatch,
}

/// The measurements of round `round` (warm-up rounds counted too).
fn round_order(round: u32) -> [Measurement; 5] {
    use Measurement::*;
    if round.is_multiple_of(2) {
        [Perf, PerfBatch, FireAndForget, Async, Kcat]
    } else {
        [Perf, PerfBatch, FireAndForget, Kcat, Async]
    }
}

pub(super) fn row(name: &str, subject: Subject, reference: bool, clock: &str) -> ThroughputRow {
    ThroughputRow {
        name: name.to_string(),
        subject,
        reference,
        runs: Vec::new(),
        delivered: Vec::new(),
        clock: clock.to_string(),
        error: None,
    }
}

/// Measures throughput in `warmup + repetitions` rounds and fills
/// `report.throughput` (and notes).
pub(super) async fn measure(
    on: &OnBroker<'_>,
    async_spec: &ExperimentSpec,
    ff_spec: &ExperimentSpec,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let args = on.args;
    let t = on;
    let bootstrap = &on.bootstrap;
    let kafka_home = &on.kafka_home;
    let perf_ok = &on.perf_ok;
    let client = &on.client;
    let java_client = &on.java_client;
    let n = args.records;
    let p = args.partitions;

    let mut async_ack = row(
        ASYNC_ACK,
        Subject::Harness,
        false,
        "first send() → last delivery report (all records acknowledged)",
    );
    let mut async_close = row(
        ASYNC_CLOSE,
        Subject::Harness,
        false,
        "first send() → flush() and producer closed (mode::produce's end)",
    );
    let mut ff_handed = row(
        FF_HANDED,
        Subject::Harness,
        false,
        "first send() → last send() returned (no flush, by design)",
    );
    let mut ff_delivered = row(
        FF_DELIVERED,
        Subject::Harness,
        false,
        "records in the topic ÷ (first send() → producer closed)",
    );
    let mut kcat = row(
        KCAT,
        Subject::Kcat,
        true,
        "process start → exit (kcat waits for every delivery report)",
    );
    let mut perf = row(
        PERF,
        Subject::ProducerPerformance,
        true,
        "the tool's final line: first send → last callback, JVM start excluded",
    );
    let mut perf_wall = row(
        PERF_WALL,
        Subject::ProducerPerformance,
        false,
        "process start → exit, JVM start-up included",
    );
    let mut perf_batch = row(
        PERF_BATCH,
        Subject::ProducerPerformance,
        false,
        "as its own figure, with librdkafka's batch size (the Java default is 16384 bytes)",
    );
    if let Err(e) = &perf_ok {
        perf.error = Some(e.clone());
        perf_wall.error = Some(e.clone());
        perf_batch.error = Some(e.clone());
    }
    let mut java_batch = java_client.clone();
    java_batch.insert("batch.size".into(), "1000000".into());
    let mut kcat_fixed: Vec<f64> = Vec::new();
    let mut close_cost: Vec<f64> = Vec::new();

    let rounds = args.warmup + args.repetitions;
    for round in 0..rounds {
        let counted = round >= args.warmup;
        let tag = if counted {
            format!("r{}", round - args.warmup + 1)
        } else {
            format!("w{}", round + 1)
        };
        tracing::info!(
            "throughput round {tag} ({})",
            if counted { "counted" } else { "warm-up" }
        );

        for which in round_order(round) {
            match which {
                Measurement::Async => {
                    // The harness, async.
                    let topic = t.topic_with(&format!("async-{tag}"), p).await?;
                    let produced = produce(async_spec, bootstrap, &topic).await?;
                    let delivered = settle_watermark(bootstrap, &topic, n).await?;
                    let acked = produced.ledger.count(Told::Acked) as u64;
                    if acked != n {
                        report.notes.push(format!(
                            "round {tag}: harness async acknowledged {acked} of {n} records"
                        ));
                    }
                    if counted {
                        let last_ack = last_report(&produced.ledger).unwrap_or(produced.ended);
                        async_ack.runs.push(rate(n, last_ack - produced.first_send));
                        async_ack.delivered.push(delivered);
                        async_close
                            .runs
                            .push(rate(n, produced.ended - produced.first_send));
                        async_close.delivered.push(delivered);
                        close_cost.push(produced.ended - last_ack);
                    }
                    pause_between().await;
                }
                Measurement::FireAndForget => {
                    // The harness, fire-and-forget.
                    let topic = t.topic_with(&format!("ff-{tag}"), p).await?;
                    let produced = produce(ff_spec, bootstrap, &topic).await?;
                    let delivered = settle_watermark(bootstrap, &topic, n).await?;
                    if counted {
                        ff_handed
                            .runs
                            .push(rate(n, produced.last_send - produced.first_send));
                        ff_handed.delivered.push(delivered);
                        ff_delivered
                            .runs
                            .push(rate(delivered, produced.ended - produced.first_send));
                        ff_delivered.delivered.push(delivered);
                    }
                    pause_between().await;
                }
                Measurement::Kcat => {
                    // kcat -P, the same records, the same librdkafka settings.
                    if kcat.error.is_none() {
                        let topic = t.topic_with(&format!("kcat-{tag}"), p).await?;
                        let file = t.payload_file(&topic, n, args.record_size)?;
                        match run_kcat(&args.kcat, bootstrap, &topic, &file, client, &[]).await {
                            Ok(wall) => {
                                let delivered = settle_watermark(bootstrap, &topic, n).await?;
                                if delivered != n {
                                    report.notes.push(format!(
                                        "round {tag}: kcat delivered {delivered} of {n} records"
                                    ));
                                }
                                if counted {
                                    kcat.runs.push(rate(n, wall));
                                    kcat.delivered.push(delivered);
                                }
                            }
                            Err(e) => kcat.error = Some(format!("{e:#}")),
                        }
                        let _ = std::fs::remove_file(&file);
                        // kcat's fixed cost: start, metadata, one record, destroy.
                        if counted && kcat.error.is_none() {
                            let topic = t.topic(&format!("kcat1-{tag}")).await?;
                            let file = t.payload_file(&topic, 1, args.record_size)?;
                            if let Ok(wall) =
                                run_kcat(&args.kcat, bootstrap, &topic, &file, client, &[]).await
                            {
                                kcat_fixed.push(wall);
                            }
                        }
                        pause_between().await;
                    }
                }
                Measurement::Perf => {
                    // Kafka's ProducerPerformance (Java client).
                    if perf.error.is_none() {
                        let topic = t.topic_with(&format!("perf-{tag}"), p).await?;
                        let file = t.payload_file(&topic, n, args.record_size)?;
                        match run_perf(kafka_home, bootstrap, &topic, n, &file, -1, java_client)
                            .await
                        {
                            Ok(out) => {
                                let delivered = settle_watermark(bootstrap, &topic, n).await?;
                                if delivered != n {
                                    report.notes.push(format!(
                            "round {tag}: ProducerPerformance delivered {delivered} of {n} records"
                        ));
                                }
                                if counted {
                                    perf.runs.push(out.records_per_sec);
                                    perf.delivered.push(delivered);
                                    perf_wall.runs.push(rate(n, out.wall_s));
                                    perf_wall.delivered.push(delivered);
                                }
                            }
                            Err(e) => {
                                perf.error = Some(format!("{e:#}"));
                                perf_wall.error = perf.error.clone();
                            }
                        }
                        let _ = std::fs::remove_file(&file);
                        pause_between().await;
                    }
                }
                Measurement::PerfBatch => {
                    if perf_batch.error.is_none() {
                        let topic = t.topic_with(&format!("perfb-{tag}"), p).await?;
                        let file = t.payload_file(&topic, n, args.record_size)?;
                        match run_perf(kafka_home, bootstrap, &topic, n, &file, -1, &java_batch)
                            .await
                        {
                            Ok(out) => {
                                let delivered = settle_watermark(bootstrap, &topic, n).await?;
                                if counted {
                                    perf_batch.runs.push(out.records_per_sec);
                                    perf_batch.delivered.push(delivered);
                                }
                            }
                            Err(e) => perf_batch.error = Some(format!("{e:#}")),
                        }
                        let _ = std::fs::remove_file(&file);
                        pause_between().await;
                    }
                }
            }
        }
    }
    if !kcat_fixed.is_empty() {
        report.notes.push(format!(
            "kcat's fixed cost (process start, metadata, 1 record, exit), measured with a \
             1-record file: median {:.1} ms; it is inside kcat's wall time",
            median(&kcat_fixed) * 1e3
        ));
    }
    if !close_cost.is_empty() {
        report.notes.push(format!(
            "harness async: from the last delivery report to the producer closed (its queue \
             empty, the client dropped) took {:.0} ms median ({}): the delivery-report \
             thread is woken and ends at once, then librdkafka closes",
            median(&close_cost) * 1e3,
            close_cost
                .iter()
                .map(|c| format!("{:.0}", c * 1e3))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    report.throughput = vec![
        async_ack,
        async_close,
        ff_handed,
        ff_delivered,
        kcat,
        perf,
        perf_wall,
        perf_batch,
    ];
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn async_and_kcat_run_back_to_back_in_turns() {
        use Measurement::*;
        let (even, odd) = (round_order(0), round_order(1));
        assert_eq!(even[3..], [Async, Kcat]);
        assert_eq!(odd[3..], [Kcat, Async]);
        assert_eq!(even[..3], odd[..3], "the same measurements before the pair");
        assert_eq!(round_order(2), even);
        let mut all = even.to_vec();
        all.sort_by_key(|m| *m as u8);
        all.dedup();
        assert_eq!(all.len(), 5, "every measurement once a round");
    }
}
