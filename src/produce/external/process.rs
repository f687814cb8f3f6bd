//! Running an external producer: the child process, started with the
//! experiment in `KAFKA_CHAOS_*` variables, watched line by line, killed at
//! its time limit or when the experiment ends.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::protocol::{Tracker, PROTOCOL_VERSION};
use crate::produce::job::{ExternalError, ProduceJob, Produced, SendObserver};
use crate::spec::Heal;

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
