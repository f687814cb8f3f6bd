//! The verifier: a pure function from (ledger, records read back) to verdicts.
//!
//! It crosses what the application was told (acked / failed / unreported)
//! with what the broker kept (found once, more than once, or not at all),
//! using the vocabulary of Jepsen's set checker:
//!
//! | told \ kept | persisted      | missing         |
//! |-------------|----------------|-----------------|
//! | acked       | `ok`           | `lost`          |
//! | failed      | `recovered`    | `reported_loss` |
//! | unreported  | `unreported_ok`| `silent_loss`   |
//!
//! Duplicates, reordering and unexpected records are counted beside these.
//! The vocabulary itself ([`Verdict`], [`VerdictCounts`], …) is plain data
//! in [`crate::model::verdict`]. Nothing here does I/O or reads a clock.

use crate::model::ledger::{LedgerEntry, Told};
use crate::model::verdict::{ConsumedRecord, RecordVerdict, Verdict, VerdictCounts, Verification};

/// Crosses the ledger with the records read back. Pure: no I/O, no clock.
///
/// `ledger` must hold one entry per sequence number `0..n` in order (as
/// [`crate::model::ledger::Ledger`] does); `consumed` may be in any order.
pub fn verify(ledger: &[LedgerEntry], consumed: &[ConsumedRecord]) -> Verification {
    let n = ledger.len();
    let mut found = vec![0u32; n];
    let mut reordered = vec![false; n];
    let mut unexpected = Vec::new();

    // Read back in log order, per partition.
    let mut by_pos: Vec<&ConsumedRecord> = consumed.iter().collect();
    by_pos.sort_by_key(|r| (r.partition, r.offset));

    let mut current_partition = None;
    let mut max_seq_in_partition: Option<u64> = None;
    for r in by_pos {
        if current_partition != Some(r.partition) {
            current_partition = Some(r.partition);
            max_seq_in_partition = None;
        }
        let Some(seq) = r
            .seq
            .filter(|s| (*s as usize) < n && ledger[*s as usize].seq == *s)
        else {
            unexpected.push(r.clone());
            continue;
        };
        let i = seq as usize;
        found[i] += 1;
        if found[i] == 1 {
            match max_seq_in_partition {
                Some(m) if seq < m => reordered[i] = true,
                _ => max_seq_in_partition = Some(seq),
            }
        }
    }

    let mut counts = VerdictCounts {
        consumed: consumed.len() as u64,
        unexpected: unexpected.len() as u64,
        ..VerdictCounts::default()
    };
    let mut records = Vec::with_capacity(n);
    for (i, entry) in ledger.iter().enumerate() {
        let told = entry.outcome.told();
        let copies = found[i];
        let verdict = Verdict::of(told, copies > 0);
        counts.sent += 1;
        match told {
            Told::Acked => counts.acked += 1,
            Told::Failed => counts.failed += 1,
            Told::Unreported => counts.unreported += 1,
        }
        if copies > 0 {
            counts.persisted += 1;
        } else {
            counts.missing += 1;
        }
        if copies > 1 {
            counts.duplicated += 1;
            counts.duplicates += u64::from(copies - 1);
        }
        if reordered[i] {
            counts.reordered += 1;
        }
        counts.add_verdict(verdict);
        records.push(RecordVerdict {
            seq: entry.seq,
            told,
            found: copies,
            verdict,
            reordered: reordered[i],
        });
    }

    Verification {
        records,
        counts,
        unexpected,
    }
}

/// Records of this experiment that a `read_uncommitted` reader finds and a
/// `read_committed` one does not: written in aborted transactions. Pure.
pub fn count_aborted(committed: &[ConsumedRecord], uncommitted: &[ConsumedRecord]) -> u64 {
    let seen: std::collections::HashSet<u64> = committed.iter().filter_map(|r| r.seq).collect();
    let only_uncommitted: std::collections::HashSet<u64> = uncommitted
        .iter()
        .filter_map(|r| r.seq)
        .filter(|s| !seen.contains(s))
        .collect();
    only_uncommitted.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ledger::{Ledger, Outcome, Persistence};

    #[test]
    fn aborted_records_are_those_only_an_uncommitted_reader_sees() {
        let committed = vec![rec(0, 0, 0), rec(0, 1, 1)];
        let uncommitted = vec![
            rec(0, 0, 0),
            rec(0, 1, 1),
            rec(0, 2, 2),
            rec(0, 3, 3),
            rec(0, 4, 2),
        ];
        assert_eq!(count_aborted(&committed, &uncommitted), 2);
        assert_eq!(count_aborted(&committed, &committed), 0);
    }

    fn acked(offset: i64) -> Outcome {
        Outcome::Acked {
            partition: 0,
            offset,
            at: 1.0,
        }
    }

    fn failed() -> Outcome {
        Outcome::Failed {
            error: "Message timed out".into(),
            persistence: Persistence::PossiblyPersisted,
            at: 2.0,
        }
    }

    fn ledger_of(outcomes: Vec<Outcome>) -> Ledger {
        let mut l = Ledger::with_capacity(outcomes.len());
        for (i, o) in outcomes.into_iter().enumerate() {
            l.record_send(i as u64, i as f64 * 0.1);
            l.record_outcome(i as u64, o);
        }
        l
    }

    fn rec(partition: i32, offset: i64, seq: u64) -> ConsumedRecord {
        ConsumedRecord {
            partition,
            offset,
            seq: Some(seq),
        }
    }

    fn check_invariants(l: &Ledger, consumed: &[ConsumedRecord], v: &Verification) {
        let c = &v.counts;
        assert_eq!(c.sent, c.acked + c.failed + c.unreported);
        assert_eq!(c.sent as usize, v.records.len());
        assert_eq!(
            c.sent,
            Verdict::ALL.iter().map(|x| c.verdict(*x)).sum::<u64>()
        );
        assert_eq!(c.sent, c.persisted + c.missing);
        for (i, r) in v.records.iter().enumerate() {
            assert_eq!(r.seq, l.entries[i].seq);
        }
        let matched: u64 = v.records.iter().map(|r| u64::from(r.found)).sum();
        assert_eq!(matched + c.unexpected, consumed.len() as u64);
    }

    #[test]
    fn every_cell_of_the_table() {
        // 0 acked+found, 1 acked+missing, 2 failed+found, 3 failed+missing,
        // 4 unreported+found, 5 unreported+missing
        let l = ledger_of(vec![
            acked(0),
            acked(1),
            failed(),
            failed(),
            Outcome::Unreported,
            Outcome::Unreported,
        ]);
        let consumed = vec![rec(0, 0, 0), rec(0, 1, 2), rec(0, 2, 4)];
        let v = verify(&l.entries, &consumed);
        let verdicts: Vec<Verdict> = v.records.iter().map(|r| r.verdict).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Ok,
                Verdict::Lost,
                Verdict::Recovered,
                Verdict::ReportedLoss,
                Verdict::UnreportedOk,
                Verdict::SilentLoss
            ]
        );
        for x in Verdict::ALL {
            assert_eq!(v.counts.verdict(x), 1, "{x:?}");
        }
        assert_eq!(v.counts.persisted, 3);
        assert_eq!(v.counts.missing, 3);
        check_invariants(&l, &consumed, &v);
    }

    #[test]
    fn duplicates_are_counted_beside_the_verdict() {
        let l = ledger_of(vec![acked(0), failed()]);
        let consumed = vec![rec(0, 0, 0), rec(0, 1, 1), rec(0, 2, 1), rec(0, 3, 1)];
        let v = verify(&l.entries, &consumed);
        assert_eq!(v.records[1].verdict, Verdict::Recovered);
        assert_eq!(v.records[1].found, 3);
        assert_eq!(v.counts.duplicated, 1);
        assert_eq!(v.counts.duplicates, 2);
        assert_eq!(v.counts.persisted, 2);
        check_invariants(&l, &consumed, &v);
    }

    #[test]
    fn unknown_and_foreign_records_are_unexpected() {
        let l = ledger_of(vec![acked(0)]);
        let consumed = vec![
            rec(0, 0, 0),
            ConsumedRecord {
                partition: 0,
                offset: 1,
                seq: None,
            },
            rec(0, 2, 99),
        ];
        let v = verify(&l.entries, &consumed);
        assert_eq!(v.counts.unexpected, 2);
        assert_eq!(v.unexpected.len(), 2);
        assert_eq!(v.counts.ok, 1);
        check_invariants(&l, &consumed, &v);
    }

    #[test]
    fn reordering_is_per_partition_against_send_order() {
        let l = ledger_of((0..6).map(|i| acked(i as i64)).collect());
        // partition 0: 0, 2, 1 (1 is reordered); partition 1: 3, 4, 5 in order
        let consumed = vec![
            rec(1, 0, 3),
            rec(0, 10, 0),
            rec(0, 11, 2),
            rec(0, 12, 1),
            rec(1, 1, 4),
            rec(1, 2, 5),
        ];
        let v = verify(&l.entries, &consumed);
        assert_eq!(v.counts.reordered, 1);
        assert!(v.records[1].reordered);
        assert!(!v.records[2].reordered);
        check_invariants(&l, &consumed, &v);
    }

    #[test]
    fn empty_inputs() {
        let v = verify(&[], &[]);
        assert_eq!(v.counts, VerdictCounts::default());
        assert!(v.records.is_empty());
    }

    #[test]
    fn invariants_hold_on_a_pseudo_random_history() {
        // A small deterministic generator, so the test needs no crate.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _round in 0..50 {
            let n = (next() % 200) as usize;
            let outcomes = (0..n)
                .map(|i| match next() % 3 {
                    0 => acked(i as i64),
                    1 => failed(),
                    _ => Outcome::Unreported,
                })
                .collect();
            let l = ledger_of(outcomes);
            let mut consumed = Vec::new();
            let mut off = 0;
            for i in 0..n as u64 {
                for _ in 0..(next() % 3) {
                    consumed.push(rec((next() % 3) as i32, off, i));
                    off += 1;
                }
            }
            if next() % 2 == 0 {
                consumed.push(ConsumedRecord {
                    partition: 0,
                    offset: off,
                    seq: None,
                });
            }
            let v = verify(&l.entries, &consumed);
            check_invariants(&l, &consumed, &v);
        }
    }
}
