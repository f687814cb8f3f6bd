//! The ledger: what the application was told about every record it sent.
//!
//! One [`LedgerEntry`] per record, indexed by the record's sequence number
//! (`0..records`). Times are seconds since the experiment's time origin
//! (the moment the producer started), so they line up with fault windows.

use serde::{Deserialize, Serialize};

/// librdkafka's view of whether a failed record may still have been written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Persistence {
    /// Definitely not written (never sent, or the broker rejected it).
    NotPersisted,
    /// In flight when it failed: the broker may have written it.
    PossiblyPersisted,
    /// The client says written (only on success).
    Persisted,
    /// The client gave no status.
    Unknown,
}

impl Persistence {
    pub fn as_str(self) -> &'static str {
        match self {
            Persistence::NotPersisted => "not_persisted",
            Persistence::PossiblyPersisted => "possibly_persisted",
            Persistence::Persisted => "persisted",
            Persistence::Unknown => "unknown",
        }
    }
}

/// What the application was told about one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "told", rename_all = "snake_case")]
pub enum Outcome {
    /// A delivery report or a `get()` said success.
    Acked {
        partition: i32,
        offset: i64,
        /// Seconds since the time origin when the success was reported.
        at: f64,
    },
    /// An error was reported.
    Failed {
        error: String,
        persistence: Persistence,
        /// Seconds since the time origin when the failure was reported.
        at: f64,
    },
    /// The application never learned the outcome.
    Unreported,
}

impl Outcome {
    pub fn told(&self) -> Told {
        match self {
            Outcome::Acked { .. } => Told::Acked,
            Outcome::Failed { .. } => Told::Failed,
            Outcome::Unreported => Told::Unreported,
        }
    }

    /// When the outcome was reported, if it was.
    pub fn reported_at(&self) -> Option<f64> {
        match self {
            Outcome::Acked { at, .. } | Outcome::Failed { at, .. } => Some(*at),
            Outcome::Unreported => None,
        }
    }
}

/// The three things an application can have been told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Told {
    Acked,
    Failed,
    Unreported,
}

impl Told {
    pub fn as_str(self) -> &'static str {
        match self {
            Told::Acked => "acked",
            Told::Failed => "failed",
            Told::Unreported => "unreported",
        }
    }
}

/// One record the producer sent (or tried to send).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Sequence number within the experiment, `0..records`.
    pub seq: u64,
    /// Seconds since the time origin when `send` was called.
    pub sent_at: f64,
    pub outcome: Outcome,
}

impl LedgerEntry {
    /// Send-to-report latency in seconds, for reported outcomes.
    pub fn latency(&self) -> Option<f64> {
        self.outcome
            .reported_at()
            .map(|at| (at - self.sent_at).max(0.0))
    }
}

/// The ledger of one experiment, in sequence order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub entries: Vec<LedgerEntry>,
}

impl Ledger {
    pub fn with_capacity(n: usize) -> Self {
        Ledger {
            entries: Vec::with_capacity(n),
        }
    }

    /// Records a send; the outcome starts as [`Outcome::Unreported`].
    pub fn record_send(&mut self, seq: u64, sent_at: f64) {
        debug_assert_eq!(seq as usize, self.entries.len());
        self.entries.push(LedgerEntry {
            seq,
            sent_at,
            outcome: Outcome::Unreported,
        });
    }

    /// Sets the outcome of a record. Returns false if `seq` is unknown.
    pub fn record_outcome(&mut self, seq: u64, outcome: Outcome) -> bool {
        match self.entries.get_mut(seq as usize) {
            Some(e) => {
                e.outcome = outcome;
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn count(&self, told: Told) -> usize {
        self.entries
            .iter()
            .filter(|e| e.outcome.told() == told)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_start_unreported_and_take_outcomes() {
        let mut l = Ledger::with_capacity(3);
        l.record_send(0, 0.0);
        l.record_send(1, 0.5);
        l.record_send(2, 1.0);
        assert!(l.record_outcome(
            0,
            Outcome::Acked {
                partition: 0,
                offset: 0,
                at: 0.01
            }
        ));
        assert!(l.record_outcome(
            1,
            Outcome::Failed {
                error: "timed out".into(),
                persistence: Persistence::PossiblyPersisted,
                at: 10.5
            }
        ));
        assert!(!l.record_outcome(7, Outcome::Unreported));
        assert_eq!(l.count(Told::Acked), 1);
        assert_eq!(l.count(Told::Failed), 1);
        assert_eq!(l.count(Told::Unreported), 1);
        assert!((l.entries[1].latency().unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(l.entries[2].latency(), None);
    }
}
