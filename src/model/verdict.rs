//! The verdict vocabulary: what the verifier answers, per record and per
//! experiment (see [`crate::verify::verifier`] for how it is computed).
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

use serde::{Deserialize, Serialize};

use crate::model::ledger::Told;

/// A record found in the topic when it was read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    /// The record's sequence number if its payload is one of this
    /// experiment's records; `None` for anything else.
    pub seq: Option<u64>,
}

/// The verdict for one ledger record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Acknowledged and found.
    Ok,
    /// Acknowledged, then not found: a durability violation.
    Lost,
    /// Reported failed, yet found: the ambiguous outcome.
    Recovered,
    /// Reported failed and not found: the application knew and could retry.
    ReportedLoss,
    /// Never reported, found.
    UnreportedOk,
    /// Never reported and not found: gone, and nobody knew.
    SilentLoss,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Ok,
        Verdict::Lost,
        Verdict::Recovered,
        Verdict::ReportedLoss,
        Verdict::UnreportedOk,
        Verdict::SilentLoss,
    ];

    pub fn of(told: Told, found: bool) -> Verdict {
        match (told, found) {
            (Told::Acked, true) => Verdict::Ok,
            (Told::Acked, false) => Verdict::Lost,
            (Told::Failed, true) => Verdict::Recovered,
            (Told::Failed, false) => Verdict::ReportedLoss,
            (Told::Unreported, true) => Verdict::UnreportedOk,
            (Told::Unreported, false) => Verdict::SilentLoss,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Lost => "lost",
            Verdict::Recovered => "recovered",
            Verdict::ReportedLoss => "reported_loss",
            Verdict::UnreportedOk => "unreported_ok",
            Verdict::SilentLoss => "silent_loss",
        }
    }

    /// One sentence a reader of a report can understand.
    pub fn meaning(self) -> &'static str {
        match self {
            Verdict::Ok => "acknowledged and found in the topic",
            Verdict::Lost => "acknowledged to the application, then missing from the topic",
            Verdict::Recovered => "reported failed to the application, yet written to the topic",
            Verdict::ReportedLoss => {
                "reported failed and not in the topic: the application could retry"
            }
            Verdict::UnreportedOk => "the application never learned the outcome; it was written",
            Verdict::SilentLoss => "the application never learned the outcome; it is gone",
        }
    }
}

/// The verdict and evidence for one ledger record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordVerdict {
    pub seq: u64,
    pub told: Told,
    /// How many copies of the record the topic holds.
    pub found: u32,
    pub verdict: Verdict,
    /// Found at a position that is earlier, in its partition, than a record
    /// sent before it.
    pub reordered: bool,
}

/// Counts over one experiment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCounts {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub unreported: u64,
    /// Records found at least once.
    pub persisted: u64,
    /// Records not found.
    pub missing: u64,
    /// Records found more than once.
    pub duplicated: u64,
    /// Extra copies beyond the first, summed over all records.
    pub duplicates: u64,
    pub ok: u64,
    pub lost: u64,
    pub recovered: u64,
    pub reported_loss: u64,
    pub unreported_ok: u64,
    pub silent_loss: u64,
    /// Records read back that no ledger entry explains.
    pub unexpected: u64,
    /// Records out of send order within their partition.
    pub reordered: u64,
    /// Records read back in total (including duplicates and unexpected).
    pub consumed: u64,
    /// Records written in transactions that were aborted (found by a
    /// `read_uncommitted` reader only); transactional mode alone.
    #[serde(default)]
    pub aborted: u64,
}

impl VerdictCounts {
    pub fn verdict(&self, v: Verdict) -> u64 {
        match v {
            Verdict::Ok => self.ok,
            Verdict::Lost => self.lost,
            Verdict::Recovered => self.recovered,
            Verdict::ReportedLoss => self.reported_loss,
            Verdict::UnreportedOk => self.unreported_ok,
            Verdict::SilentLoss => self.silent_loss,
        }
    }

    /// Counts one more record of verdict `v`.
    pub(crate) fn add_verdict(&mut self, v: Verdict) {
        match v {
            Verdict::Ok => self.ok += 1,
            Verdict::Lost => self.lost += 1,
            Verdict::Recovered => self.recovered += 1,
            Verdict::ReportedLoss => self.reported_loss += 1,
            Verdict::UnreportedOk => self.unreported_ok += 1,
            Verdict::SilentLoss => self.silent_loss += 1,
        }
    }

    /// A named count, as used in expectations and reports
    /// (`sent`, `lost`, `silent_loss`, `duplicates`, …).
    pub fn get(&self, name: &str) -> Option<u64> {
        Some(match name {
            "sent" => self.sent,
            "acked" => self.acked,
            "failed" => self.failed,
            "unreported" => self.unreported,
            "persisted" => self.persisted,
            "missing" => self.missing,
            "duplicated" => self.duplicated,
            "duplicates" => self.duplicates,
            "ok" => self.ok,
            "lost" => self.lost,
            "recovered" => self.recovered,
            "reported_loss" => self.reported_loss,
            "unreported_ok" => self.unreported_ok,
            "silent_loss" => self.silent_loss,
            "unexpected" => self.unexpected,
            "reordered" => self.reordered,
            "consumed" => self.consumed,
            "aborted" => self.aborted,
            _ => return None,
        })
    }

    /// The names [`VerdictCounts::get`] answers.
    pub const NAMES: [&'static str; 18] = [
        "sent",
        "acked",
        "failed",
        "unreported",
        "persisted",
        "missing",
        "duplicated",
        "duplicates",
        "ok",
        "lost",
        "recovered",
        "reported_loss",
        "unreported_ok",
        "silent_loss",
        "unexpected",
        "reordered",
        "consumed",
        "aborted",
    ];
}

/// The verifier's answer for one experiment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// One verdict per ledger entry, in sequence order.
    pub records: Vec<RecordVerdict>,
    pub counts: VerdictCounts,
    /// Records read back that no ledger entry explains.
    pub unexpected: Vec<ConsumedRecord>,
}
