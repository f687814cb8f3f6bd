//! External producers: a program in any language, driven through a line
//! protocol (v1, see `docs/external-producers.md`), goes through the same
//! experiments and verdicts as the built-in rdkafka modes.
//!
//! The harness starts the spec's `command` with the broker, topic, record
//! count, pause, `get()` timeout and client settings in `KAFKA_CHAOS_*`
//! variables. The program sends `{"number": n, "id": "<topic>/<n>"}` for
//! `n` in `0..records` and writes one JSON line to stdout per event:
//!
//! ```text
//! {"event":"send","seq":7}                                  send() returned
//! {"event":"ack","seq":7,"partition":0,"offset":7}           told: success
//! {"event":"error","seq":7,"error":"KafkaTimeoutError: …"}   told: failure
//! ```
//!
//! (plus the optional `start` and `end`). The harness timestamps each line
//! when it reads it, so every producer is timed the same way; a [`Tracker`]
//! turns the lines into the [`Ledger`]. The fault is triggered when the
//! count of records sent reaches `fault_after`, as for the built-in modes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::mode::{ProduceJob, Produced, SendObserver};
use crate::model::ledger::{Ledger, LedgerEntry, Outcome, Persistence};
use crate::spec::Heal;

/// The protocol version this harness speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// Why an external producer could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("the spec has no [external] table")]
    NoCommand,
    #[error("cannot start `{program}`: {source}{hint}")]
    Start {
        program: String,
        hint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the producer's log file {path}: {source}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot watch the producer: {0}")]
    Watch(std::io::Error),
}

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
    /// Lines that are not a v1 event (not JSON, a missing field, …).
    pub malformed: u64,
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
        let apply = |entry: &mut LedgerEntry, send_seen: &mut bool| {
            if is_send {
                if *send_seen {
                    stats.duplicate_sends += 1;
                }
                *send_seen = true;
            }
            if let Some(o) = outcome {
                if entry.outcome == Outcome::Unreported {
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

/// Kills the producer's process group unless it has already been reaped.
struct Group {
    pgid: nix::unistd::Pid,
    reaped: Arc<AtomicBool>,
}

impl Group {
    fn kill(&self) {
        if !self.reaped.load(Ordering::SeqCst) {
            // The process group: a wrapper script's children go too.
            let _ = nix::sys::signal::killpg(self.pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The experiment was cancelled (Ctrl+C) or failed: the producer
        // must not outlive it.
        self.kill();
    }
}

enum Msg {
    Line(f64, String),
    ReadError(String),
    Exit(f64, std::io::Result<ExitStatus>),
}

/// The last lines of a log file (at most `max` lines of the last 4 KiB).
fn tail(path: &Path, max: usize) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(max)..].join("\n")
}

/// Where the producer's stderr goes: `$TMPDIR/kafka-chaos/<topic>.stderr.log`.
pub fn log_path(topic: &str) -> PathBuf {
    std::env::temp_dir()
        .join("kafka-chaos")
        .join(format!("{topic}.stderr.log"))
}

fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!(
            "killed by signal {}",
            Signal::try_from(s)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| s.to_string())
        ),
        _ => status.to_string(),
    }
}

/// Runs the spec's external producer until it exits, filling the ledger
/// from its protocol lines and calling `observer` for each record sent.
pub async fn produce(
    job: &ProduceJob<'_>,
    observer: &mut dyn SendObserver,
) -> Result<Produced, ExternalError> {
    let spec = job.spec;
    let ext = spec.external.as_ref().ok_or(ExternalError::NoCommand)?;
    let pause = spec.pause.as_secs_f64();
    let args = ext.resolved_command(job.bootstrap, job.topic, spec.records);
    let log = log_path(job.topic);
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ExternalError::Log {
            path: log.clone(),
            source,
        })?;
    }
    let stderr = std::fs::File::create(&log).map_err(|source| ExternalError::Log {
        path: log.clone(),
        source,
    })?;
    let settings = serde_json::Value::Object(ext.settings.clone()).to_string();
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..])
        .current_dir(&ext.workdir)
        .env("KAFKA_CHAOS_PROTOCOL", PROTOCOL_VERSION.to_string())
        .env("KAFKA_CHAOS_BOOTSTRAP", job.bootstrap)
        .env("KAFKA_CHAOS_TOPIC", job.topic)
        .env("KAFKA_CHAOS_RECORDS", spec.records.to_string())
        .env("KAFKA_CHAOS_PAUSE_S", format!("{pause}"))
        .env(
            "KAFKA_CHAOS_TIMEOUT_S",
            format!("{}", spec.sync_timeout.as_secs_f64()),
        )
        .env("KAFKA_CHAOS_ACKS", ext.acks())
        .env("KAFKA_CHAOS_CLIENT_SETTINGS", &settings)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr));
    tracing::debug!(
        "external producer: {:?} in {} (log {})",
        args,
        ext.workdir.display(),
        log.display()
    );
    let mut child = crate::infra::supervise::spawn(cmd, Signal::SIGKILL).map_err(|source| {
        let hint = if source.kind() == std::io::ErrorKind::NotFound {
            if ext
                .command_as_written
                .first()
                .is_some_and(|p| p.contains("{venv}"))
            {
                " (the set-up's Python environment is missing: run `make setup`, or `scripts/setup.sh --only venv`)".to_string()
            } else {
                " (no such program)".to_string()
            }
        } else {
            String::new()
        };
        ExternalError::Start {
            program: args[0].clone(),
            hint,
            source,
        }
    })?;
    let reaped = Arc::new(AtomicBool::new(false));
    let group = Group {
        pgid: nix::unistd::Pid::from_raw(child.id() as i32),
        reaped: reaped.clone(),
    };
    let stdout = child.stdout.take().ok_or_else(|| {
        ExternalError::Watch(std::io::Error::other("the producer's stdout is not piped"))
    })?;

    // A thread reads the lines, timestamps them as they come, and reaps the
    // process after its stdout closes.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let origin = job.origin;
    std::thread::Builder::new()
        .name("kafka-chaos-external".into())
        .spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {
                        let at = origin.elapsed().as_secs_f64();
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if tx.send(Msg::Line(at, text)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Msg::ReadError(e.to_string()));
                        break;
                    }
                }
            }
            drop(reader);
            let status = child.wait();
            reaped.store(true, Ordering::SeqCst);
            let _ = tx.send(Msg::Exit(origin.elapsed().as_secs_f64(), status));
        })
        .map_err(ExternalError::Watch)?;

    let limit = ext.time_limit.unwrap_or_else(|| default_time_limit(job));
    let deadline = tokio::time::Instant::now() + limit;
    let mut tracker = Tracker::new(spec.records);
    let mut notes = Vec::new();
    let mut killed = false;
    let exit = loop {
        let msg = if killed {
            rx.recv().await
        } else {
            tokio::select! {
                m = rx.recv() => m,
                _ = tokio::time::sleep_until(deadline) => {
                    group.kill();
                    killed = true;
                    let n = format!(
                        "external producer killed: still running after its time limit of {}",
                        humantime::format_duration(limit)
                    );
                    tracing::warn!("{n}");
                    notes.push(n);
                    continue;
                }
            }
        };
        match msg {
            Some(Msg::Line(at, text)) => {
                let before = tracker.sent();
                tracker.line(at, &text);
                for count in before + 1..=tracker.sent() {
                    observer.sent(count, at);
                }
            }
            Some(Msg::ReadError(e)) => {
                let n = format!("external producer: reading its stdout failed: {e}");
                tracing::warn!("{n}");
                notes.push(n);
            }
            Some(Msg::Exit(at, status)) => break Some((at, status)),
            None => break None,
        }
    };
    drop(group);
    let ended = exit
        .as_ref()
        .map(|(at, _)| *at)
        .unwrap_or_else(|| job.origin.elapsed().as_secs_f64());
    let tracked = tracker.finish();
    let status = match &exit {
        Some((_, Ok(s))) => describe(s),
        Some((_, Err(e))) => format!("unknown exit ({e})"),
        None => "unknown exit".into(),
    };
    let success = matches!(&exit, Some((_, Ok(s))) if s.success());
    let client = tracked.client.clone().unwrap_or_else(|| ext.client.clone());
    let mut summary = format!(
        "external producer {client} (`{}`, protocol v{}): {status} at {ended:.1} s",
        ext.command_as_written.join(" "),
        tracked.protocol.unwrap_or(PROTOCOL_VERSION),
    );
    if let Some(end) = tracked.end_at {
        summary.push_str(&format!(", its `end` line at {end:.1} s"));
    }
    summary.push_str(&format!("; stderr in {}", log.display()));
    tracing::debug!("{summary}");
    notes.insert(0, summary);
    if tracked.protocol.is_some_and(|p| p != PROTOCOL_VERSION) {
        let n = format!(
            "external producer speaks protocol v{}; this harness speaks v{PROTOCOL_VERSION}",
            tracked.protocol.unwrap_or_default()
        );
        tracing::warn!("{n}");
        notes.push(n);
    }
    if !success && !killed {
        let n = format!(
            "external producer ended with {status} after sending {} of {} records; last lines of its stderr:\n{}",
            tracked.ledger.len(),
            spec.records,
            tail(&log, 12)
        );
        tracing::warn!("{n}");
        notes.push(n);
    }
    let s = &tracked.stats;
    if s.problems() > 0 {
        let mut n = format!(
            "external producer: {} stdout lines, {} not protocol lines, {} for unknown records, {} repeated sends, {} records after a gap (ignored)",
            s.lines, s.malformed, s.out_of_range, s.duplicate_sends, s.beyond_gap
        );
        if let Some(first) = &s.first_malformed {
            n.push_str(&format!("; first bad line: {first}"));
        }
        tracing::warn!("{n}");
        notes.push(n);
    }
    let ledger = tracked.ledger;
    let first_send = ledger.entries.first().map(|e| e.sent_at).unwrap_or(0.0);
    let last_send = ledger
        .entries
        .iter()
        .map(|e| e.sent_at)
        .fold(first_send, f64::max);
    Ok(Produced {
        ledger,
        first_send,
        last_send,
        ended,
        late_reports: s.late_outcomes,
        notes,
    })
}

/// Generous: what the spec asks for, a full `get()` timeout per record,
/// and ten minutes.
fn default_time_limit(job: &ProduceJob<'_>) -> Duration {
    let spec = job.spec;
    let downtime = match spec.heal {
        Heal::After(d) => d,
        Heal::WhenProducerEnds => Duration::ZERO,
    };
    let per_record = spec.pause + spec.sync_timeout;
    let records = u32::try_from(spec.records).unwrap_or(u32::MAX);
    per_record
        .checked_mul(records)
        .unwrap_or(Duration::MAX)
        .saturating_add(downtime)
        .saturating_add(Duration::from_secs(600))
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
