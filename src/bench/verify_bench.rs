//! Without a broker: the pure verifier over a large ledger, and the
//! ledger's memory per record.

use std::time::Instant;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::VerifyBench;
use crate::model::ledger::{Ledger, LedgerEntry, Outcome, Persistence};
use crate::model::verdict::{ConsumedRecord, RecordVerdict};
use crate::verify::verifier;

/// Resident memory of this process, in bytes (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn rss_growth(before: Option<u64>, after: Option<u64>, n: usize) -> Option<f64> {
    match (before, after) {
        (Some(b), Some(a)) if n > 0 => Some(a.saturating_sub(b) as f64 / n as f64),
        _ => None,
    }
}

/// The bytes malloc really takes for a block of `size` (glibc: 8 bytes of
/// header, rounded up to 16, at least 32).
fn malloc_block(size: usize) -> usize {
    if size == 0 {
        return 0;
    }
    (size + 8).div_ceil(16).max(2) * 16
}

/// Times [`verifier::verify`] over `n` acknowledged records read back once
/// each, and measures the ledger's memory per record.
pub fn verify_bench(n: usize, repetitions: u32) -> VerifyBench {
    let entry_bytes = std::mem::size_of::<LedgerEntry>();

    // A ledger of acknowledged records: what its memory is.
    let before = rss_bytes();
    let mut ledger = Ledger::with_capacity(n);
    for i in 0..n {
        let seq = i as u64;
        ledger.record_send(seq, i as f64 * 1e-6);
        ledger.record_outcome(
            seq,
            Outcome::Acked {
                partition: 0,
                offset: i as i64,
                at: i as f64 * 1e-6 + 0.005,
            },
        );
    }
    let acked_rss = rss_growth(before, rss_bytes(), n);
    let acked_bytes = (ledger.entries.capacity() * entry_bytes) as f64 / n.max(1) as f64;

    let consumed: Vec<ConsumedRecord> = (0..n)
        .map(|i| ConsumedRecord {
            partition: 0,
            offset: i as i64,
            seq: Some(i as u64),
        })
        .collect();
    let mut runs_s = Vec::new();
    for _ in 0..repetitions {
        let t = Instant::now();
        let v = verifier::verify(std::hint::black_box(&ledger.entries), &consumed);
        runs_s.push(t.elapsed().as_secs_f64());
        if v.counts.ok != n as u64 {
            tracing::warn!("verify bench: {} ok of {n}", v.counts.ok);
        }
        drop(std::hint::black_box(v));
    }
    drop(consumed);
    drop(ledger);

    // The worst case: every record failed, each with its own error text.
    let error = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut).to_string();
    let before = rss_bytes();
    let mut failed = Ledger::with_capacity(n);
    let mut heap = 0usize;
    for i in 0..n {
        let seq = i as u64;
        failed.record_send(seq, i as f64 * 1e-6);
        let e = error.clone();
        heap += malloc_block(e.capacity());
        failed.record_outcome(
            seq,
            Outcome::Failed {
                error: e,
                persistence: Persistence::PossiblyPersisted,
                at: 30.0,
            },
        );
    }
    let failed_rss = rss_growth(before, rss_bytes(), n);
    let failed_bytes = (failed.entries.capacity() * entry_bytes + heap) as f64 / n.max(1) as f64;
    drop(std::hint::black_box(failed));

    VerifyBench {
        records: n as u64,
        runs_s,
        entry_bytes,
        acked_bytes_per_record: acked_bytes,
        failed_bytes_per_record: failed_bytes,
        acked_rss_bytes_per_record: acked_rss,
        failed_rss_bytes_per_record: failed_rss,
        failed_error: error,
        consumed_record_bytes: std::mem::size_of::<ConsumedRecord>(),
        verdict_bytes: std::mem::size_of::<RecordVerdict>(),
    }
}
