//! Kafka's own ProducerPerformance (the Java client): run, and its final
//! line parsed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};

/// What ProducerPerformance reported, plus its process wall time.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfOutput {
    pub records: u64,
    pub records_per_sec: f64,
    pub avg_ms: f64,
    pub max_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub wall_s: f64,
}

pub(super) fn java_command() -> PathBuf {
    if let Ok(h) = std::env::var("JAVA_HOME") {
        let p = Path::new(&h).join("bin").join("java");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("java")
}

pub(super) async fn run_perf(
    home: &Path,
    bootstrap: &str,
    topic: &str,
    n: u64,
    payload_file: &Path,
    throughput: i64,
    props: &BTreeMap<String, String>,
) -> anyhow::Result<PerfOutput> {
    let mut cmd = tokio::process::Command::new(java_command());
    // kafka-producer-perf-test.sh runs with -Xmx512M.
    cmd.arg("-Xmx512M")
        .arg("-cp")
        .arg(format!("{}/libs/*", home.display()));
    let log4j = home.join("config").join("tools-log4j2.yaml");
    if log4j.is_file() {
        cmd.arg(format!("-Dlog4j2.configurationFile={}", log4j.display()));
    }
    cmd.arg("org.apache.kafka.tools.ProducerPerformance")
        .args(["--bootstrap-server", bootstrap, "--topic", topic])
        .arg("--num-records")
        .arg(n.to_string())
        .arg("--throughput")
        .arg(throughput.to_string())
        .arg("--payload-file")
        .arg(payload_file)
        .arg("--command-property");
    for (k, v) in props {
        cmd.arg(format!("{k}={v}"));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let out = cmd
        .output()
        .await
        .context("cannot run java (ProducerPerformance)")?;
    let wall_s = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "ProducerPerformance failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .chain(stdout.lines())
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output")
        );
    }
    let mut parsed = stdout
        .lines()
        .rev()
        .find_map(parse_perf_line)
        .ok_or_else(|| anyhow!("no summary line in ProducerPerformance's output: {stdout}"))?;
    parsed.wall_s = wall_s;
    Ok(parsed)
}

/// Parses ProducerPerformance's final line:
/// `100000 records sent, 85034.0 records/sec (8.11 MB/sec), 150.61 ms avg
/// latency, 388.00 ms max latency, 142 ms 50th, 310 ms 95th, 370 ms 99th,
/// 385 ms 99.9th.` (the per-interval lines carry no percentiles).
pub fn parse_perf_line(line: &str) -> Option<PerfOutput> {
    if !line.contains("records sent") || !line.contains("50th") {
        return None;
    }
    let num = |s: &str| -> Option<f64> {
        s.split_whitespace()
            .next()?
            .trim_end_matches(['.', ','])
            .parse::<f64>()
            .ok()
    };
    let mut out = PerfOutput {
        records: 0,
        records_per_sec: f64::NAN,
        avg_ms: f64::NAN,
        max_ms: f64::NAN,
        p50_ms: f64::NAN,
        p95_ms: f64::NAN,
        p99_ms: f64::NAN,
        p999_ms: f64::NAN,
        wall_s: 0.0,
    };
    for part in line.split(", ") {
        let v = num(part);
        if part.contains("records sent") {
            out.records = v? as u64;
        } else if part.contains("records/sec") {
            out.records_per_sec = v?;
        } else if part.contains("avg latency") {
            out.avg_ms = v?;
        } else if part.contains("max latency") {
            out.max_ms = v?;
        } else if part.contains("99.9th") {
            out.p999_ms = v?;
        } else if part.contains("50th") {
            out.p50_ms = v?;
        } else if part.contains("95th") {
            out.p95_ms = v?;
        } else if part.contains("99th") {
            out.p99_ms = v?;
        }
    }
    out.records_per_sec.is_finite().then_some(out)
}

pub(super) async fn java_version() -> Option<String> {
    let out = tokio::process::Command::new(java_command())
        .arg("-version")
        .output()
        .await
        .ok()?;
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_perf_line_is_parsed() {
        let line = "100000 records sent, 85034.0 records/sec (8.11 MB/sec), 150.61 ms avg \
                    latency, 388.00 ms max latency, 142 ms 50th, 310 ms 95th, 370 ms 99th, \
                    385 ms 99.9th.";
        let p = parse_perf_line(line).unwrap();
        assert_eq!(p.records, 100_000);
        assert_eq!(p.records_per_sec, 85034.0);
        assert_eq!(p.avg_ms, 150.61);
        assert_eq!(p.max_ms, 388.0);
        assert_eq!(p.p50_ms, 142.0);
        assert_eq!(p.p95_ms, 310.0);
        assert_eq!(p.p99_ms, 370.0);
        assert_eq!(p.p999_ms, 385.0);
        // An interval line has no percentiles.
        assert!(parse_perf_line(
            "426577 records sent, 85315.4 records/sec (8.14 MB/sec), 2.1 ms avg latency, 180.0 ms max latency."
        )
        .is_none());
    }
}
