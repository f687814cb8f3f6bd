//! Running an external producer: the child process, started with the
//! experiment in `KAFKA_CHAOS_*` variables, watched line by line (each line
//! bounded, [`super::lines`]), stopped (SIGSTOP) at the fault gate's trigger
//! points until the fault is in force, killed at its time limit or when the
//! experiment ends.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::lines::{read_line_bounded, LineRead, MAX_LINE_BYTES};
use super::protocol::{Tracker, PROTOCOL_VERSION};
use crate::produce::gate::Progress;
use crate::produce::job::{ExternalError, ProduceJob, Produced, SendObserver};
use crate::spec::Heal;

/// After the producer's group was killed at its time limit: how long the
/// harness still waits for its stdout to close. A process that left the
/// group (`setsid`) may hold it open for ever.
pub const EOF_WAIT_AFTER_KILL: Duration = Duration::from_secs(5);

/// At a trigger point, after SIGSTOP: time for the reader to drain what the
/// producer wrote before it stopped.
const DRAIN: Duration = Duration::from_millis(20);

/// Signals the producer's process group unless its leader has been reaped
/// (then the group id may belong to someone else).
#[derive(Clone)]
struct GroupSignal {
    pgid: nix::unistd::Pid,
    reaped: Arc<AtomicBool>,
}

impl GroupSignal {
    /// Sends `signal` to the whole group (a wrapper script's children too).
    fn signal(&self, signal: Signal) -> bool {
        !self.reaped.load(Ordering::SeqCst) && nix::sys::signal::killpg(self.pgid, signal).is_ok()
    }
}

/// The producer's process group, killed when dropped.
struct Group(GroupSignal);

impl Group {
    fn kill(&self) {
        let _ = self.0.signal(Signal::SIGKILL);
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
    /// This many records sent so far (the reader's tracker), at.
    Sent(u64, f64),
    /// The reader stopped the producer (SIGSTOP) at a trigger point.
    Stopped,
    ReadError(String),
    /// stdout closed.
    Eof,
    /// The producer exited (reaped).
    Exit(f64, std::io::Result<ExitStatus>),
}

type SharedTracker = Arc<Mutex<Option<Tracker>>>;

fn lock(t: &SharedTracker) -> MutexGuard<'_, Option<Tracker>> {
    match t.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The reader thread: reads stdout line by line (each bounded), timestamps
/// each line as it comes and feeds it to the tracker, keeps the gate's
/// counters, and stops the producer's group (SIGSTOP) the moment its
/// `send` lines reach a trigger point — here, not on the async side, so
/// that it writes as little as possible past the point.
fn read_lines(
    stdout: std::process::ChildStdout,
    tracker: SharedTracker,
    origin: std::time::Instant,
    progress: Arc<Progress>,
    mut points: std::iter::Peekable<std::vec::IntoIter<u64>>,
    group: GroupSignal,
    tx: tokio::sync::mpsc::UnboundedSender<Msg>,
) {
    let mut reader = std::io::BufReader::new(stdout);
    let mut reported = 0;
    loop {
        let read = read_line_bounded(&mut reader, MAX_LINE_BYTES);
        let at = origin.elapsed().as_secs_f64();
        let (sent, acked) = {
            let mut guard = lock(&tracker);
            // The harness stopped listening.
            let Some(t) = guard.as_mut() else { return };
            match read {
                Ok(None) => break,
                Ok(Some(LineRead::Line(bytes))) => t.line(at, &String::from_utf8_lossy(&bytes)),
                Ok(Some(LineRead::TooLong { len, head })) => t.too_long(len, &head),
                Err(e) => {
                    let _ = tx.send(Msg::ReadError(e.to_string()));
                    break;
                }
            }
            (t.sent(), t.acked())
        };
        progress.set_acked(acked);
        progress.set_sent(sent);
        let mut crossed = false;
        while points.next_if(|p| sent >= *p).is_some() {
            crossed = true;
        }
        if crossed {
            group.signal(Signal::SIGSTOP);
        }
        if sent > reported {
            reported = sent;
            if tx.send(Msg::Sent(sent, at)).is_err() {
                return;
            }
        }
        if crossed && tx.send(Msg::Stopped).is_err() {
            return;
        }
    }
    let _ = tx.send(Msg::Eof);
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

/// Where the producer's stderr goes: `<topic>.stderr.log` in the process's
/// private run directory ([`crate::infra::rundir`]), removed with it unless
/// it is kept (`experiment --keep-run-dir`).
pub fn log_path(topic: &str) -> std::io::Result<PathBuf> {
    Ok(crate::infra::rundir::path()?.join(format!("{topic}.stderr.log")))
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

/// What the harness has learned from the producer so far.
struct Watch<'o> {
    observer: &'o mut dyn SendObserver,
    /// Records already reported to the observer.
    reported: u64,
    notes: Vec<String>,
    eof: bool,
    exit: Option<(f64, std::io::Result<ExitStatus>)>,
}

impl Watch<'_> {
    fn note(&mut self, n: String) {
        tracing::warn!("{n}");
        self.notes.push(n);
    }

    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Sent(sent, at) => {
                for count in self.reported + 1..=sent {
                    self.observer.sent(count, at);
                }
                self.reported = self.reported.max(sent);
            }
            // Handled by the caller.
            Msg::Stopped => {}
            Msg::ReadError(e) => {
                self.note(format!("external producer: reading its stdout failed: {e}"))
            }
            Msg::Eof => self.eof = true,
            Msg::Exit(at, status) => self.exit = Some((at, status)),
        }
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
    let log = log_path(job.topic).map_err(ExternalError::RunDir)?;
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
    // fault_after = 0: the fault is in force before the producer starts.
    job.gate.sent(0).await;
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
    let group = Group(GroupSignal {
        pgid: nix::unistd::Pid::from_raw(child.id() as i32),
        reaped: reaped.clone(),
    });
    let stdout = child.stdout.take().ok_or_else(|| {
        ExternalError::Watch(std::io::Error::other("the producer's stdout is not piped"))
    })?;

    // A thread reads the lines; another reaps the process, whether or not
    // its stdout closed.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let origin = job.origin;
    let tracker: SharedTracker = Arc::new(Mutex::new(Some(Tracker::new(spec.records))));
    {
        let (tracker, progress, group, tx) = (
            tracker.clone(),
            job.gate.progress().clone(),
            group.0.clone(),
            tx.clone(),
        );
        let points = job.gate.pending_points().into_iter().peekable();
        std::thread::Builder::new()
            .name("kafka-chaos-external".into())
            .spawn(move || read_lines(stdout, tracker, origin, progress, points, group, tx))
            .map_err(ExternalError::Watch)?;
    }
    std::thread::Builder::new()
        .name("kafka-chaos-external-wait".into())
        .spawn(move || {
            let status = child.wait();
            reaped.store(true, Ordering::SeqCst);
            let _ = tx.send(Msg::Exit(origin.elapsed().as_secs_f64(), status));
        })
        .map_err(ExternalError::Watch)?;

    let limit = ext.time_limit.unwrap_or_else(|| default_time_limit(job));
    let deadline = tokio::time::Instant::now() + limit;
    let mut w = Watch {
        observer,
        reported: 0,
        notes: Vec::new(),
        eof: false,
        exit: None,
    };
    let mut killed_at: Option<tokio::time::Instant> = None;
    // Until the producer has exited and its stdout is closed.
    while !(w.eof && w.exit.is_some()) {
        let wait_until = killed_at.map_or(deadline, |k| k + EOF_WAIT_AFTER_KILL);
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep_until(wait_until) => {
                if killed_at.is_none() {
                    group.kill();
                    killed_at = Some(tokio::time::Instant::now());
                    w.note(format!(
                        "external producer killed: still running after its time limit of {}",
                        humantime::format_duration(limit)
                    ));
                    continue;
                }
                w.note(format!(
                    "external producer: its stdout was still open {} after it was killed (a process outside its process group holds it); stopped reading",
                    humantime::format_duration(EOF_WAIT_AFTER_KILL)
                ));
                while let Ok(m) = rx.try_recv() {
                    w.take(m);
                }
                break;
            }
        };
        let Some(msg) = msg else { break };
        let stopped = matches!(msg, Msg::Stopped);
        w.take(msg);
        if stopped {
            // The reader stopped the producer at a trigger point: give it
            // time to read what was written before the stop, hand off, and
            // let the producer go on once the fault is in force.
            tokio::time::sleep(DRAIN).await;
            job.gate.hand_off_due().await;
            group.0.signal(Signal::SIGCONT);
        }
    }
    drop(group);
    let killed = killed_at.is_some();
    let Watch {
        mut notes, exit, ..
    } = w;
    let tracker = lock(&tracker)
        .take()
        .unwrap_or_else(|| Tracker::new(spec.records));
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
        if s.too_long > 0 {
            n.push_str(&format!(
                "; {} lines over {MAX_LINE_BYTES} bytes, skipped",
                s.too_long
            ));
        }
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
        Heal::WhenProducerEnds | Heal::WithNextFault => Duration::ZERO,
    };
    let per_record = spec.pause + spec.sync_timeout;
    let records = u32::try_from(spec.records).unwrap_or(u32::MAX);
    per_record
        .checked_mul(records)
        .unwrap_or(Duration::MAX)
        .saturating_add(downtime)
        .saturating_add(Duration::from_secs(600))
}
