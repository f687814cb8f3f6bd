//! The targets against the figures reached, and the notes a reader
//! needs to judge them. Measured, never asserted.

use super::stats::median;
use super::{find, BenchArgs, BenchReport, TargetCheck, ASYNC_ACK, ASYNC_CLOSE, FF_HANDED, KCAT};

/// The targets, against what was reached (never asserted).
pub(super) fn targets(r: &BenchReport) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    let kcat = find(&r.throughput, KCAT).map(|k| median(&k.runs));
    // kcat's wall time runs to its exit, so the harness's comparable figure
    // runs to the producer closed; the figure to the last ack is shown too.
    let harness = find(&r.throughput, ASYNC_CLOSE).map(|k| median(&k.runs));
    let to_ack = find(&r.throughput, ASYNC_ACK).map(|k| median(&k.runs));
    if !r.throughput.is_empty() {
        out.push(match (harness, kcat) {
            (Some(h), Some(k)) => TargetCheck {
                target: "harness async throughput ≥ 90% of kcat's".into(),
                reached: format!(
                    "{:.0}% to the producer closed ({h:.0} vs {k:.0} records/s); {} to the last ack",
                    100.0 * h / k,
                    to_ack
                        .map(|a| format!("{:.0}%", 100.0 * a / k))
                        .unwrap_or_else(|| "—".into())
                ),
                met: Some(h >= 0.9 * k),
            },
            _ => TargetCheck {
                target: "harness async throughput ≥ 90% of kcat's".into(),
                reached: "not measured".into(),
                met: None,
            },
        });
    }
    if let Some(v) = &r.verify {
        let m = median(&v.runs_s);
        out.push(TargetCheck {
            target: format!("verify() of {} records < 3 s", v.records),
            reached: format!("{m:.3} s (median)"),
            // The target is stated for 1,000,000 records.
            met: (v.records >= 1_000_000).then_some(m < 3.0),
        });
        let worst = v.failed_bytes_per_record.max(v.acked_bytes_per_record);
        out.push(TargetCheck {
            target: "ledger memory < 200 bytes per record".into(),
            reached: format!(
                "{:.0} B/record acked, {:.0} B/record all failed (computed; RSS growth {} / {})",
                v.acked_bytes_per_record,
                v.failed_bytes_per_record,
                v.acked_rss_bytes_per_record
                    .map(|b| format!("{b:.0} B"))
                    .unwrap_or_else(|| "n/a".into()),
                v.failed_rss_bytes_per_record
                    .map(|b| format!("{b:.0} B"))
                    .unwrap_or_else(|| "n/a".into()),
            ),
            met: Some(worst < 200.0),
        });
    }
    out
}

pub(super) fn add_general_notes(args: &BenchArgs, r: &mut BenchReport) {
    if args.verify_only {
        return;
    }
    let (lib, kcat) = (
        r.settings.librdkafka_harness.clone(),
        r.settings
            .kcat_version
            .clone()
            .unwrap_or_else(|| "kcat ?".into()),
    );
    r.notes.push(format!(
        "the harness links librdkafka {lib}; {kcat}: the same settings, not the same library build"
    ));
    r.notes.push(
        "ProducerPerformance runs the Java client with its own defaults besides the settings \
         shown (batch.size 16384 bytes, where librdkafka batches up to 1,000,000 bytes), and \
         sends payloads picked at random from the same file"
            .into(),
    );
    if let Some(ff) = find(&r.throughput, FF_HANDED) {
        let lost: Vec<u64> = ff
            .delivered
            .iter()
            .map(|d| args.records.saturating_sub(*d))
            .collect();
        if lost.iter().any(|l| *l > 0) {
            r.notes.push(format!(
                "fire-and-forget does not flush: records still queued when it ends are purged \
                 with the producer (records not in the topic per repetition: {lost:?}); how many \
                 get out first depends on how long closing takes (the delivery-report \
                 thread ends when woken, then the producer purges)"
            ));
        }
    }
    r.notes.push(format!(
        "all producers share one {}-CPU host with the broker: every figure includes the \
         competition for CPU between client and broker",
        r.settings.cpus
    ));
}
