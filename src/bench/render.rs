//! The bench report as text: throughput and latency tables, the
//! verifier's figures, the targets and the notes.

use std::fmt::Write as _;

use super::stats::{median, min_max};
use super::{find, BenchReport, Subject, KCAT, PERF};

fn fmt_rate(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else {
        let s = format!("{:.0}", v);
        // Thousands separators.
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    }
}

fn fmt_ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "—".into()
    }
}

fn fmt_ms(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "—".into()
    }
}

/// The report as text: the throughput table, the latency table, the
/// verifier's figures, the targets and the notes.
pub fn render(r: &BenchReport) -> String {
    let mut s = String::new();
    let st = &r.settings;
    let _ = writeln!(s, "kafka-chaos bench");
    if let (Some(b), Some(v)) = (&st.backend, &st.kafka_version) {
        let _ = writeln!(
            s,
            "broker: Kafka {v} ({b} backend, log on {}); harness: librdkafka {}; {}; {}",
            st.storage,
            st.librdkafka_harness,
            st.kcat_version.as_deref().unwrap_or("kcat: not found"),
            st.java_version.as_deref().unwrap_or("java: not found"),
        );
        let _ = writeln!(
            s,
            "{} records of {} bytes per measurement, {} partition(s), acks={}, linger.ms={}; \
             {} counted repetition(s) after {} warm-up round(s); a fresh topic each",
            st.records,
            st.record_bytes,
            st.partitions,
            st.client.get("acks").map(String::as_str).unwrap_or("?"),
            st.client
                .get("linger.ms")
                .map(String::as_str)
                .unwrap_or("?"),
            st.repetitions,
            st.warmup
        );
    }

    if !r.throughput.is_empty() {
        let kcat = find(&r.throughput, KCAT).map(|k| median(&k.runs));
        let perf = find(&r.throughput, PERF).map(|k| median(&k.runs));
        let w = r
            .throughput
            .iter()
            .map(|x| x.name.chars().count())
            .max()
            .unwrap_or(0);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Throughput (records/s)\n{:<w$}  {:>9}  {:>19}  {:>7}  {:>10}  in topic",
            "", "median", "min–max", "÷ kcat", "÷ ProdPerf",
        );
        for row in &r.throughput {
            if let Some(e) = &row.error {
                let _ = writeln!(s, "{:<w$}  not measured: {e}", row.name);
                continue;
            }
            let m = median(&row.runs);
            let (lo, hi) = min_max(&row.runs);
            let delivered = if row.delivered.is_empty() {
                "—".into()
            } else {
                let (a, b) = (
                    row.delivered.iter().min().copied().unwrap_or(0),
                    row.delivered.iter().max().copied().unwrap_or(0),
                );
                if a == b {
                    format!("{a}")
                } else {
                    format!("{a}–{b}")
                }
            };
            let _ = writeln!(
                s,
                "{:<w$}  {:>9}  {:>19}  {:>7}  {:>10}  {}",
                row.name,
                fmt_rate(m),
                format!("{}–{}", fmt_rate(lo), fmt_rate(hi)),
                fmt_ratio(kcat.map(|k| m / k).unwrap_or(f64::NAN)),
                fmt_ratio(perf.map(|k| m / k).unwrap_or(f64::NAN)),
                delivered,
            );
        }
        let _ = writeln!(s, "clocks:");
        for row in &r.throughput {
            let _ = writeln!(s, "  {}: {}", row.name, row.clock);
        }
    }

    if !r.latency.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Sync latency ({} records per repetition; medians over repetitions, ms; \
             ratios are harness ÷ reference, lower is better)",
            st.sync_records
        );
        let w = r
            .latency
            .iter()
            .map(|x| x.name.chars().count())
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "{:<w$}  {:>7}  {:>7}  {:>8}  {:>10}  {:>8}",
            "", "p50", "p99", "max", "per record", "harness ÷"
        );
        let harness = r.latency.iter().find(|x| x.subject == Subject::Harness);
        for row in &r.latency {
            if let Some(e) = &row.error {
                let _ = writeln!(s, "{:<w$}  not measured: {e}", row.name);
                continue;
            }
            let ratio = match (harness, row.subject) {
                (_, Subject::Harness) | (None, _) => "—".to_string(),
                (Some(h), Subject::ProducerPerformance) => {
                    format!("p50 {}", fmt_ratio(median(&h.p50_ms) / median(&row.p50_ms)))
                }
                (Some(h), Subject::Kcat) => format!(
                    "per rec {}",
                    fmt_ratio(median(&h.per_record_ms) / median(&row.per_record_ms))
                ),
            };
            let _ = writeln!(
                s,
                "{:<w$}  {:>7}  {:>7}  {:>8}  {:>10}  {}",
                row.name,
                fmt_ms(median(&row.p50_ms)),
                fmt_ms(median(&row.p99_ms)),
                fmt_ms(median(&row.max_ms)),
                fmt_ms(median(&row.per_record_ms)),
                ratio
            );
        }
        let _ = writeln!(s, "clocks:");
        for row in &r.latency {
            let _ = writeln!(s, "  {}: {}", row.name, row.clock);
        }
    }

    if let Some(v) = &r.verify {
        let (lo, hi) = min_max(&v.runs_s);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Verifier: verify() over {} acknowledged records read back once: median {:.3} s \
             (min {:.3}, max {:.3}, {} runs)",
            v.records,
            median(&v.runs_s),
            lo,
            hi,
            v.runs_s.len()
        );
        let _ = writeln!(
            s,
            "Ledger memory per record: LedgerEntry is {} bytes; all acked {:.0} B (RSS growth {}); \
             all failed with \"{}\" {:.0} B (RSS growth {})",
            v.entry_bytes,
            v.acked_bytes_per_record,
            v.acked_rss_bytes_per_record
                .map(|b| format!("{b:.0} B"))
                .unwrap_or_else(|| "n/a".into()),
            v.failed_error,
            v.failed_bytes_per_record,
            v.failed_rss_bytes_per_record
                .map(|b| format!("{b:.0} B"))
                .unwrap_or_else(|| "n/a".into()),
        );
        let _ = writeln!(
            s,
            "Beside the ledger during verification: {} B per record read back, {} B per verdict",
            v.consumed_record_bytes, v.verdict_bytes
        );
    }

    if !r.targets.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Targets (measured, not asserted)");
        for t in &r.targets {
            let mark = match t.met {
                Some(true) => "met   ",
                Some(false) => "MISSED",
                None => "n/a   ",
            };
            let _ = writeln!(s, "  {mark}  {}: {}", t.target, t.reached);
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Notes");
        for n in &r.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    s
}
