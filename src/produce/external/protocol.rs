//! Protocol v1 (`docs/external-producers.md`): the lines an external
//! producer writes to stdout, and the [`Tracker`] that turns them into the
//! ledger as they arrive. Pure: the lines come with the time they were read.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::ledger::{Ledger, LedgerEntry, Outcome, Persistence};

/// The protocol version this harness speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// One stdout line of protocol v1.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Line {
    Start {
        #[serde(default)]
        protocol: Option<u64>,
        #[serde(default)]
        client: Option<String>,
    },
    Send {
        seq: u64,
    },
    Ack {
        seq: u64,
        partition: i32,
        offset: i64,
    },
    Error {
        seq: u64,
        error: String,
        #[serde(default)]
        persistence: Option<Persistence>,
    },
    End,
    /// A later protocol's event: ignored.
    #[serde(other)]
    Unknown,
}

/// What the protocol lines held besides the ledger: nothing here stops an
/// experiment, everything is counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolStats {
    /// Lines read from stdout.
    pub lines: u64,
    /// Lines that are not a v1 event (not JSON, a missing field, …,
    /// or longer than the line limit).
    pub malformed: u64,
    /// Of `malformed`: lines longer than the limit (skipped unread).
    #[serde(default)]
    pub too_long: u64,
    /// Well-formed events of an unknown kind (ignored).
    pub unknown_events: u64,
    /// Events for a `seq` outside `0..records` (ignored).
    pub out_of_range: u64,
    /// A second `send` for a record (ignored).
    pub duplicate_sends: u64,
    /// A second outcome for a record: the first one stands (what the
    /// application was told first is what it acted on).
    pub late_outcomes: u64,
    /// Records named after a record that never was: not in the ledger.
    pub beyond_gap: u64,
    /// The first malformed line, for messages.
    pub first_malformed: Option<String>,
}

impl ProtocolStats {
    /// Problems worth a warning.
    pub fn problems(&self) -> u64 {
        self.malformed + self.out_of_range + self.duplicate_sends + self.beyond_gap
    }
}

/// Turns protocol lines into a ledger, as they arrive.
///
/// A record counts as sent from the first line that names it (normally
/// its `send`; an `error` without a `send` is a `send()` that raised), and
/// that line's time is its send time. The ledger is the contiguous run of
/// records `0..n` named so far; the fault trigger follows its length.
#[derive(Debug)]
pub struct Tracker {
    records: u64,
    entries: Vec<LedgerEntry>,
    /// Whether each entry's `send` line came.
    send_seen: Vec<bool>,
    /// Records named beyond the contiguous run, waiting for the gap to fill.
    ahead: HashMap<u64, (LedgerEntry, bool)>,
    stats: ProtocolStats,
    client: Option<String>,
    protocol: Option<u64>,
    end_at: Option<f64>,
    /// Records told acked so far (ledger and ahead of it).
    acked: u64,
}

/// A finished [`Tracker`].
#[derive(Debug)]
pub struct Tracked {
    pub ledger: Ledger,
    pub stats: ProtocolStats,
    /// The client named in the `start` line.
    pub client: Option<String>,
    pub protocol: Option<u64>,
    /// When the `end` line came.
    pub end_at: Option<f64>,
}

impl Tracker {
    pub fn new(records: u64) -> Self {
        Tracker {
            records,
            entries: Vec::with_capacity(records.min(1 << 20) as usize),
            send_seen: Vec::with_capacity(records.min(1 << 20) as usize),
            ahead: HashMap::new(),
            stats: ProtocolStats::default(),
            client: None,
            protocol: None,
            end_at: None,
            acked: 0,
        }
    }

    /// Records told acknowledged so far (their first outcome an `ack`).
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// A stdout line longer than the limit, skipped unread: `len` bytes,
    /// starting with `head`. Counted as malformed.
    pub fn too_long(&mut self, len: usize, head: &[u8]) {
        self.stats.lines += 1;
        self.stats.malformed += 1;
        self.stats.too_long += 1;
        if self.stats.first_malformed.is_none() {
            let shown: String = String::from_utf8_lossy(head).chars().take(120).collect();
            self.stats.first_malformed = Some(format!(
                "{shown}… (a line of {len} bytes, over the limit of {} bytes)",
                super::lines::MAX_LINE_BYTES
            ));
        }
    }

    /// Records sent so far (the length of the contiguous run).
    pub fn sent(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Feeds one stdout line, read at `at` (seconds since the origin).
    pub fn line(&mut self, at: f64, text: &str) {
        self.stats.lines += 1;
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let parsed: Line = match serde_json::from_str(text) {
            Ok(l) => l,
            Err(e) => {
                self.stats.malformed += 1;
                if self.stats.first_malformed.is_none() {
                    let shown: String = text.chars().take(120).collect();
                    self.stats.first_malformed = Some(format!("{shown} ({e})"));
                }
                tracing::debug!("external producer: not a protocol line ({e}): {text}");
                return;
            }
        };
        match parsed {
            Line::Start { protocol, client } => {
                self.protocol = protocol;
                self.client = client;
            }
            Line::End => self.end_at = Some(at),
            Line::Unknown => self.stats.unknown_events += 1,
            Line::Send { seq } => self.name(seq, at, true, None),
            Line::Ack {
                seq,
                partition,
                offset,
            } => self.name(
                seq,
                at,
                false,
                Some(Outcome::Acked {
                    partition,
                    offset,
                    at,
                }),
            ),
            Line::Error {
                seq,
                error,
                persistence,
            } => self.name(
                seq,
                at,
                false,
                Some(Outcome::Failed {
                    error,
                    persistence: persistence.unwrap_or(Persistence::Unknown),
                    at,
                }),
            ),
        }
    }

    fn name(&mut self, seq: u64, at: f64, is_send: bool, outcome: Option<Outcome>) {
        if seq >= self.records {
            self.stats.out_of_range += 1;
            return;
        }
        let stats = &mut self.stats;
        let acked = &mut self.acked;
        let apply = |entry: &mut LedgerEntry, send_seen: &mut bool| {
            if is_send {
                if *send_seen {
                    stats.duplicate_sends += 1;
                }
                *send_seen = true;
            }
            if let Some(o) = outcome {
                if entry.outcome == Outcome::Unreported {
                    if matches!(o, Outcome::Acked { .. }) {
                        *acked += 1;
                    }
                    entry.outcome = o;
                } else {
                    stats.late_outcomes += 1;
                }
            }
        };
        let fresh = || {
            (
                LedgerEntry {
                    seq,
                    sent_at: at,
                    outcome: Outcome::Unreported,
                },
                false,
            )
        };
        let i = seq as usize;
        if i < self.entries.len() {
            apply(&mut self.entries[i], &mut self.send_seen[i]);
            return;
        }
        let (entry, seen) = self.ahead.entry(seq).or_insert_with(fresh);
        apply(entry, seen);
        // Move what is now contiguous into the ledger.
        while let Some((entry, seen)) = self.ahead.remove(&(self.entries.len() as u64)) {
            self.entries.push(entry);
            self.send_seen.push(seen);
        }
    }

    pub fn finish(mut self) -> Tracked {
        self.stats.beyond_gap = self.ahead.len() as u64;
        Tracked {
            ledger: Ledger {
                entries: self.entries,
            },
            stats: self.stats,
            client: self.client,
            protocol: self.protocol,
            end_at: self.end_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ledger::Told;

    fn line(event: &str, seq: u64) -> String {
        format!("{{\"event\":\"{event}\",\"seq\":{seq}}}")
    }

    fn ack(seq: u64, offset: i64) -> String {
        format!("{{\"event\":\"ack\",\"seq\":{seq},\"partition\":0,\"offset\":{offset}}}")
    }

    fn error(seq: u64) -> String {
        format!("{{\"event\":\"error\",\"seq\":{seq},\"error\":\"KafkaTimeoutError: Timeout after waiting for 10 secs.\"}}")
    }

    #[test]
    fn a_clean_run_fills_the_ledger_in_order() {
        let mut t = Tracker::new(3);
        t.line(
            0.0,
            r#"{"event":"start","protocol":1,"client":"kafka-python 3.0.12"}"#,
        );
        t.line(0.1, &line("send", 0));
        t.line(0.2, &ack(0, 0));
        t.line(0.6, &line("send", 1));
        t.line(10.6, &error(1));
        t.line(11.0, &line("send", 2));
        assert_eq!(t.sent(), 3);
        t.line(11.5, r#"{"event":"end"}"#);
        let d = t.finish();
        assert_eq!(d.client.as_deref(), Some("kafka-python 3.0.12"));
        assert_eq!(d.protocol, Some(1));
        assert_eq!(d.end_at, Some(11.5));
        let e = &d.ledger.entries;
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].sent_at, 0.1);
        assert_eq!(
            e[0].outcome,
            Outcome::Acked {
                partition: 0,
                offset: 0,
                at: 0.2
            }
        );
        assert_eq!(e[1].outcome.told(), Told::Failed);
        assert!(matches!(
            &e[1].outcome,
            Outcome::Failed { persistence: Persistence::Unknown, error, .. } if error.contains("KafkaTimeoutError")
        ));
        assert_eq!(e[2].outcome, Outcome::Unreported);
        assert_eq!(d.stats.problems(), 0);
        assert_eq!(d.stats.lines, 7);
    }

    #[test]
    fn malformed_lines_are_counted_never_fatal() {
        let mut t = Tracker::new(2);
        t.line(0.0, "{'number': 0}");
        t.line(0.0, "");
        t.line(0.1, &line("send", 0));
        t.line(0.1, r#"{"event":"send"}"#);
        t.line(0.1, r#"{"event":"send","seq":-1}"#);
        t.line(0.1, r#"{"event":"ack","seq":0}"#);
        t.line(0.1, r#"{"seq":1}"#);
        t.line(0.2, r#"{"event":"heartbeat","n":3}"#);
        t.line(0.3, &ack(0, 0));
        let d = t.finish();
        assert_eq!(d.stats.malformed, 5);
        assert_eq!(d.stats.unknown_events, 1);
        assert!(d
            .stats
            .first_malformed
            .as_deref()
            .is_some_and(|m| m.starts_with("{'number': 0}")));
        assert_eq!(d.ledger.len(), 1);
        assert_eq!(d.ledger.entries[0].outcome.told(), Told::Acked);
    }

    #[test]
    fn over_long_lines_are_malformed_and_acks_are_counted() {
        let mut t = Tracker::new(2);
        t.line(0.1, &line("send", 0));
        t.too_long(100_000, b"{\"event\":\"send\",\"pad\":\"xxxx");
        t.line(0.2, &ack(0, 0));
        t.line(0.3, &ack(0, 0));
        t.line(0.3, &ack(1, 1));
        assert_eq!(t.acked(), 2, "first outcomes only, ahead of the ledger too");
        let d = t.finish();
        assert_eq!((d.stats.malformed, d.stats.too_long), (1, 1));
        assert_eq!(d.stats.lines, 5);
        let first = d.stats.first_malformed.unwrap_or_default();
        assert!(first.contains("a line of 100000 bytes"), "{first}");
    }

    #[test]
    fn unknown_records_are_ignored() {
        let mut t = Tracker::new(2);
        t.line(0.1, &line("send", 0));
        t.line(0.2, &line("send", 2));
        t.line(0.3, &ack(7, 1));
        let d = t.finish();
        assert_eq!(d.stats.out_of_range, 2);
        assert_eq!(d.ledger.len(), 1);
        assert_eq!(d.ledger.entries[0].outcome, Outcome::Unreported);
    }

    #[test]
    fn the_first_outcome_stands_later_ones_are_late() {
        let mut t = Tracker::new(1);
        t.line(0.1, &line("send", 0));
        t.line(10.1, &error(0));
        t.line(12.0, &ack(0, 0));
        t.line(12.1, &line("send", 0));
        let d = t.finish();
        assert_eq!(d.stats.late_outcomes, 1);
        assert_eq!(d.stats.duplicate_sends, 1);
        assert_eq!(d.ledger.entries[0].outcome.told(), Told::Failed);
        assert_eq!(d.ledger.entries[0].sent_at, 0.1);
    }

    #[test]
    fn an_outcome_before_its_send_line_names_the_record() {
        // A callback on another thread may print before the main thread
        // prints `send`; `send()` that raised prints only `error`.
        let mut t = Tracker::new(3);
        t.line(0.1, &ack(0, 0));
        t.line(0.2, &line("send", 0));
        t.line(0.3, &error(1));
        assert_eq!(t.sent(), 2);
        let d = t.finish();
        assert_eq!(d.stats.duplicate_sends, 0);
        assert_eq!(d.ledger.entries[0].sent_at, 0.1);
        assert_eq!(d.ledger.entries[0].outcome.told(), Told::Acked);
        assert_eq!(d.ledger.entries[1].outcome.told(), Told::Failed);
        assert_eq!(d.ledger.entries[1].latency(), Some(0.0));
    }

    #[test]
    fn out_of_order_sends_join_the_ledger_when_the_gap_fills() {
        let mut t = Tracker::new(5);
        t.line(0.1, &line("send", 1));
        assert_eq!(t.sent(), 0, "record 0 is not sent yet");
        t.line(0.2, &line("send", 0));
        assert_eq!(t.sent(), 2);
        t.line(0.3, &line("send", 4));
        t.line(0.4, &ack(4, 9));
        let d = t.finish();
        assert_eq!(d.ledger.len(), 2);
        assert_eq!(d.stats.beyond_gap, 1);
        assert_eq!(d.ledger.entries[1].seq, 1);
        assert_eq!(d.ledger.entries[1].sent_at, 0.1);
    }

    #[test]
    fn error_lines_may_carry_a_persistence() {
        let mut t = Tracker::new(1);
        t.line(
            0.1,
            r#"{"event":"error","seq":0,"error":"Local: Message timed out","persistence":"possibly_persisted","extra":1}"#,
        );
        let d = t.finish();
        assert!(matches!(
            d.ledger.entries[0].outcome,
            Outcome::Failed {
                persistence: Persistence::PossiblyPersisted,
                ..
            }
        ));
    }
}
