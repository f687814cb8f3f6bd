//! `kafka-chaos bench`: how fast the harness's producers are, next to
//! independent references, on one broker in one run.
//!
//! Measured, each on a fresh topic so every measurement starts equal, in
//! rounds that interleave the measurements (so a drift of the machine hits
//! them all alike), after warm-up rounds that are not counted:
//!
//! - the harness's `async` and `fire-and-forget` modes ([`produce::produce`],
//!   no pause, no fault), with the harness's client settings;
//! - `kcat -P` producing the same records (one per line from a file) with
//!   the same librdkafka settings, timed as a whole process;
//! - Kafka's own `org.apache.kafka.tools.ProducerPerformance` (the Java
//!   client) with matching acks, linger and retry settings; its own figure
//!   excludes JVM start-up, its process wall time is shown beside it, and a
//!   second run with librdkafka's batch size shows what the Java default
//!   batch size (16 KB) costs;
//! - `sync` mode's send→ack latency against ProducerPerformance throttled
//!   well below one record per round trip with one request in flight, and
//!   against kcat with a local queue of one message (which makes it wait
//!   for each delivery report before producing the next record).
//!
//! Besides, without a broker: the pure [`verifier::verify`] over a
//! 1,000,000-record ledger, and the ledger's memory per record.
//!
//! The bench measures and reports; it never asserts a target. Figures and
//! their explanation: `BENCHMARKS.md`.
//!
//! [`throughput`] and [`latency`] measure on the broker (what they share is
//! in [`on_broker`]) against [`kcat`] and [`perf`] (ProducerPerformance);
//! [`verify_bench`] times the verifier; [`targets`] and [`render`] turn the
//! figures into the report, with the helpers of [`stats`].
//!
//! [`produce::produce`]: crate::produce::produce
//! [`verifier::verify`]: crate::verify::verifier::verify
//! [`throughput`]: crate::bench::throughput
//! [`latency`]: crate::bench::latency
//! [`on_broker`]: crate::bench::on_broker
//! [`kcat`]: crate::bench::kcat
//! [`perf`]: crate::bench::perf
//! [`verify_bench`]: mod@crate::bench::verify_bench
//! [`targets`]: crate::bench::targets
//! [`render`]: mod@crate::bench::render
//! [`stats`]: crate::bench::stats

pub mod kcat;
pub mod latency;
pub mod on_broker;
pub mod perf;
pub mod render;
pub mod stats;
pub mod targets;
pub mod throughput;
pub mod verify_bench;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde::Serialize;

use crate::broker::{self, Backend, Broker, BrokerConfig, Jit};
use crate::run;
use crate::spec::{ExperimentSpec, Mode, Profile, Storage};

pub use perf::{parse_perf_line, PerfOutput};
pub use render::render;
pub use stats::{median, percentile};
pub use verify_bench::verify_bench;

/// Measure the harness's producers against kcat and Kafka's own
/// ProducerPerformance on one broker, and time the verifier.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// How to run Kafka: a local JVM process (least overhead) or a container.
    #[arg(long, value_enum, default_value_t = Backend::Process)]
    pub backend: Backend,
    /// Kafka distribution folder (with libs/*.jar): the broker for --backend
    /// process, and ProducerPerformance's classpath for both backends
    /// [default: the jars `make setup` resolved from Maven Central].
    #[arg(long, env = "KAFKA_HOME")]
    pub kafka_home: Option<PathBuf>,
    /// Kafka version of the image and jars.
    #[arg(long, default_value = broker::DEFAULT_KAFKA_VERSION)]
    pub kafka_version: String,
    /// Container image for --backend container [default: as `experiment`].
    #[arg(long)]
    pub image: Option<String>,
    /// How long the broker start may take.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub ready_timeout: Duration,
    /// How the broker JVM compiles: `full` (the JVM's default, as Kafka
    /// runs in production) so that the broker is not what limits the
    /// producers measured; `quick` as `experiment` runs it by default.
    #[arg(long, value_enum, default_value_t = Jit::Full)]
    pub broker_jit: Jit,
    /// Where the broker keeps its log: the disk, or the lose-unsynced-writes
    /// filesystem that experiments with `power_loss` run on (its cost).
    #[arg(long, value_enum, default_value_t = Storage::Disk)]
    pub storage: Storage,
    /// Records per throughput measurement.
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    /// Bytes per record (the harness's JSON payload, padded).
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Counted repetitions of every measurement (the table shows medians).
    #[arg(long, default_value_t = 3)]
    pub repetitions: u32,
    /// Uncounted warm-up rounds before the counted ones (the broker's JIT).
    #[arg(long, default_value_t = 1)]
    pub warmup: u32,
    /// Records per sync-latency measurement.
    #[arg(long, default_value_t = 1000)]
    pub sync_records: u64,
    /// ProducerPerformance's --throughput for the sync-latency reference
    /// (records/s): low enough that each record goes alone.
    #[arg(long, default_value_t = 100)]
    pub sync_reference_rate: u32,
    /// acks for every producer (harness, kcat, ProducerPerformance).
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// linger.ms for every producer.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u32,
    /// Partitions of each measurement's topic.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Only time the verifier and the ledger's memory (no broker).
    #[arg(long)]
    pub verify_only: bool,
    /// Ledger size for the verifier timing.
    #[arg(long, default_value_t = 1_000_000)]
    pub verify_records: u64,
    /// The kcat executable.
    #[arg(long, default_value = "kcat")]
    pub kcat: PathBuf,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Everything one bench run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub settings: BenchSettings,
    /// Throughput rows, in records per second per repetition.
    pub throughput: Vec<ThroughputRow>,
    /// Sync-latency rows.
    pub latency: Vec<LatencyRow>,
    pub verify: Option<VerifyBench>,
    pub targets: Vec<TargetCheck>,
    /// What the reader should know to judge the figures.
    pub notes: Vec<String>,
}

/// The conditions of a run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchSettings {
    pub backend: Option<String>,
    /// Where the broker kept its log (`disk` or `lazyfs`).
    pub storage: String,
    /// How the broker JVM compiled (`full` or `quick`).
    pub broker_jit: String,
    pub kafka_version: Option<String>,
    pub broker_source: Option<String>,
    pub librdkafka_harness: String,
    pub kcat_version: Option<String>,
    pub java_version: Option<String>,
    pub records: u64,
    pub record_bytes: usize,
    pub repetitions: u32,
    pub warmup: u32,
    pub sync_records: u64,
    pub sync_reference_rate: u32,
    pub partitions: i32,
    /// The librdkafka settings of the harness and kcat.
    pub client: BTreeMap<String, String>,
    /// The Java client settings of ProducerPerformance.
    pub java_client: BTreeMap<String, String>,
    pub cpus: usize,
    pub started_at: String,
}

/// Which producer a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Harness,
    Kcat,
    ProducerPerformance,
}

/// One throughput measurement, repeated.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputRow {
    pub name: String,
    pub subject: Subject,
    /// Whether ratios are taken against this row (one per reference).
    pub reference: bool,
    /// Records per second, one per repetition.
    pub runs: Vec<f64>,
    /// Records in the topic after each repetition (sum of high watermarks).
    pub delivered: Vec<u64>,
    /// What the clock measures.
    pub clock: String,
    /// Why a measurement could not run, if it could not.
    pub error: Option<String>,
}

/// One latency measurement, repeated (milliseconds).
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRow {
    pub name: String,
    pub subject: Subject,
    pub p50_ms: Vec<f64>,
    pub p99_ms: Vec<f64>,
    pub max_ms: Vec<f64>,
    /// Wall time per record (span of the run ÷ records).
    pub per_record_ms: Vec<f64>,
    pub clock: String,
    pub error: Option<String>,
}

/// The verifier's speed and the ledger's size.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyBench {
    pub records: u64,
    /// Seconds per `verify()` call, one per repetition.
    pub runs_s: Vec<f64>,
    /// `size_of::<LedgerEntry>()`.
    pub entry_bytes: usize,
    /// Bytes per record of a ledger of acknowledged records (no heap).
    pub acked_bytes_per_record: f64,
    /// Bytes per record when every record failed with librdkafka's error
    /// text (the entry plus its String's heap block).
    pub failed_bytes_per_record: f64,
    /// Resident memory growth per record while building each ledger.
    pub acked_rss_bytes_per_record: Option<f64>,
    pub failed_rss_bytes_per_record: Option<f64>,
    /// The error text used for the failed case.
    pub failed_error: String,
    /// `size_of::<ConsumedRecord>()` and `size_of::<RecordVerdict>()`: the
    /// read-back and verdict memory beside the ledger.
    pub consumed_record_bytes: usize,
    pub verdict_bytes: usize,
}

/// A target from the issue, checked against the figure reached.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub reached: String,
    pub met: Option<bool>,
}

/// Runs the bench (or only the verifier timing with `--verify-only`).
pub async fn run(args: &BenchArgs) -> anyhow::Result<BenchReport> {
    check_args(args)?;
    let client = harness_spec(args, Mode::Async, args.records)?.client;
    let mut report = BenchReport {
        settings: BenchSettings {
            backend: None,
            storage: args.storage.to_string(),
            broker_jit: args.broker_jit.to_string(),
            kafka_version: None,
            broker_source: None,
            librdkafka_harness: rdkafka::util::get_rdkafka_version().1,
            kcat_version: None,
            java_version: None,
            records: args.records,
            record_bytes: args.record_size,
            repetitions: args.repetitions,
            warmup: args.warmup,
            sync_records: args.sync_records,
            sync_reference_rate: args.sync_reference_rate,
            partitions: args.partitions,
            java_client: java_client_props(&client),
            client,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            started_at: chrono::Utc::now().to_rfc3339(),
        },
        throughput: Vec::new(),
        latency: Vec::new(),
        verify: None,
        targets: Vec::new(),
        notes: Vec::new(),
    };

    if !args.verify_only {
        report.settings.kcat_version = kcat::kcat_version(&args.kcat).await;
        report.settings.java_version = perf::java_version().await;
        let run_id = run::new_run_id();
        let mut cfg = BrokerConfig::new(args.backend, format!("bench-{run_id}"));
        cfg.kafka_version = args.kafka_version.clone();
        cfg.kafka_home = args.kafka_home.clone();
        cfg.image = args.image.clone();
        cfg.ready_timeout = args.ready_timeout;
        cfg.storage = args.storage;
        cfg.jit = args.broker_jit;
        tracing::info!(
            "starting the broker ({} backend, {} storage)",
            args.backend,
            args.storage
        );
        let broker = Broker::start(&cfg)
            .await
            .context("the broker did not start")?;
        let info = broker.info();
        report.settings.backend = Some(info.backend.to_string());
        report.settings.kafka_version = Some(info.kafka_version.clone());
        report.settings.broker_source = Some(info.source.clone());
        let measured = tokio::select! {
            r = measure_on_broker(args, &broker, &run_id, &mut report) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        };
        broker.remove().await;
        measured?;
    }

    tracing::info!("timing verify() over {} records", args.verify_records);
    let n = args.verify_records as usize;
    let reps = args.repetitions.max(1);
    report.verify = Some(
        tokio::task::spawn_blocking(move || verify_bench(n, reps))
            .await
            .context("the verifier timing failed")?,
    );
    report.targets = targets::targets(&report);
    targets::add_general_notes(args, &mut report);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(report)
}

fn check_args(args: &BenchArgs) -> anyhow::Result<()> {
    if args.records == 0 || args.sync_records == 0 || args.verify_records == 0 {
        bail!("--records, --sync-records and --verify-records must be at least 1");
    }
    if args.repetitions == 0 {
        bail!("--repetitions must be at least 1");
    }
    if args.partitions < 1 {
        bail!("--partitions must be at least 1");
    }
    if args.sync_reference_rate == 0 {
        bail!("--sync-reference-rate must be at least 1");
    }
    Ok(())
}

/// A spec for a harness measurement: no pause, no fault, the bench's
/// payload size and client settings on top of the harness defaults.
pub fn harness_spec(args: &BenchArgs, mode: Mode, records: u64) -> anyhow::Result<ExperimentSpec> {
    let text = format!(
        "description = \"bench: {mode}, no pause, no fault\"\n\
         mode = \"{mode}\"\n\
         records = {records}\n\
         pause = \"0s\"\n\
         partitions = {partitions}\n\
         payload_bytes = {size}\n\
         [client]\n\
         acks = \"{acks}\"\n\
         \"linger.ms\" = {linger}\n",
        partitions = args.partitions,
        size = args.record_size,
        acks = args.acks.replace(['"', '\\'], ""),
        linger = args.linger_ms,
    );
    Ok(ExperimentSpec::parse(
        &format!("bench-{mode}"),
        Path::new("<bench>"),
        &text,
        Profile::Full,
    )?)
}

/// The Java client's names for the harness's librdkafka settings (those
/// that exist in both; `message.timeout.ms` is `delivery.timeout.ms`).
fn java_client_props(client: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in client {
        let key = match k.as_str() {
            "acks"
            | "linger.ms"
            | "enable.idempotence"
            | "retries"
            | "retry.backoff.ms"
            | "request.timeout.ms"
            | "reconnect.backoff.ms"
            | "reconnect.backoff.max.ms" => k.as_str(),
            "message.timeout.ms" => "delivery.timeout.ms",
            _ => continue,
        };
        out.insert(key.to_string(), v.clone());
    }
    out
}

/// Names of the rows (stable: ratios and targets look them up).
const ASYNC_ACK: &str = "harness async (first send → last ack)";
const ASYNC_CLOSE: &str = "harness async (first send → closed)";
const FF_HANDED: &str = "harness fire-and-forget (handed to client)";
const FF_DELIVERED: &str = "harness fire-and-forget (delivered)";
const KCAT: &str = "kcat -P (process wall time)";
const PERF: &str = "ProducerPerformance (its own figure)";
const PERF_WALL: &str = "ProducerPerformance (process wall time)";
const PERF_BATCH: &str = "ProducerPerformance, batch.size=1000000 (its own figure)";

const SYNC_HARNESS: &str = "harness sync (send → ack)";
const SYNC_PERF: &str = "ProducerPerformance (throttled, 1 in flight)";
const SYNC_KCAT: &str = "kcat -P (local queue of 1 message)";

/// The row of `name`, if it was measured.
pub(crate) fn find<'a>(rows: &'a [ThroughputRow], name: &str) -> Option<&'a ThroughputRow> {
    rows.iter().find(|r| r.name == name && !r.runs.is_empty())
}

async fn measure_on_broker(
    args: &BenchArgs,
    broker: &Broker,
    run_id: &str,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let work = tempfile::Builder::new()
        .prefix("kafka-chaos-bench-")
        .tempdir()
        .context("cannot create a work folder")?;
    let kafka_home = args
        .kafka_home
        .clone()
        .unwrap_or_else(|| broker::process::default_kafka_home(&args.kafka_version));
    let on = on_broker::OnBroker {
        args,
        broker,
        run_id,
        work: work.path(),
        bootstrap: broker.bootstrap().to_string(),
        perf_ok: broker::process::inspect_kafka_home(&kafka_home)
            .map_err(|e| format!("ProducerPerformance not run: {e}")),
        kafka_home,
        client: report.settings.client.clone(),
        java_client: report.settings.java_client.clone(),
    };
    let async_spec = harness_spec(args, Mode::Async, args.records)?;
    let ff_spec = harness_spec(args, Mode::FireAndForget, args.records)?;
    let sync_spec = harness_spec(args, Mode::Sync, args.sync_records)?;
    throughput::measure(&on, &async_spec, &ff_spec, report).await?;
    latency::measure(&on, &sync_spec, report).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::produce::payload::payload;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(extra: &[&str]) -> BenchArgs {
        let mut argv = vec!["bench"];
        argv.extend_from_slice(extra);
        Wrap::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn defaults_follow_the_issue() {
        let a = parse(&[]);
        assert_eq!(a.backend, Backend::Process);
        assert_eq!(a.records, 100_000);
        assert_eq!(a.record_size, 100);
        assert_eq!(a.repetitions, 3);
        assert_eq!(a.sync_records, 1000);
        assert_eq!(a.acks, "all");
        assert_eq!(a.partitions, 1);
    }

    #[test]
    fn the_spec_carries_the_bench_settings() {
        let a = parse(&["--acks", "1", "--record-size", "200", "--linger-ms", "0"]);
        let s = harness_spec(&a, Mode::Async, 10).unwrap();
        assert_eq!(s.records, 10);
        assert!(s.pause.is_zero());
        assert_eq!(s.payload_bytes, 200);
        assert_eq!(s.client["acks"], "1");
        assert_eq!(s.client["linger.ms"], "0");
        assert_eq!(s.fault, crate::spec::FaultKind::None);
        let j = java_client_props(&s.client);
        assert_eq!(j["acks"], "1");
        assert_eq!(j["delivery.timeout.ms"], s.client["message.timeout.ms"]);
        assert!(!j.contains_key("socket.timeout.ms"));
    }

    #[test]
    fn payloads_fit_on_one_line_at_the_asked_size() {
        let topic = run::topic_name("20250101-000000-123456", "bench-kcat-r1");
        let p = payload(&topic, 99_999, 100);
        assert_eq!(p.len(), 100);
        assert!(!p.contains(&b'\n'));
    }

    #[test]
    fn the_verifier_bench_runs_and_renders() {
        let v = verify_bench(10_000, 2);
        assert_eq!(v.runs_s.len(), 2);
        assert!(v.acked_bytes_per_record >= v.entry_bytes as f64);
        assert!(v.failed_bytes_per_record > v.acked_bytes_per_record);
        let mut r = BenchReport {
            settings: BenchSettings {
                backend: None,
                storage: "disk".into(),
                broker_jit: "full".into(),
                kafka_version: None,
                broker_source: None,
                librdkafka_harness: "x".into(),
                kcat_version: None,
                java_version: None,
                records: 1,
                record_bytes: 100,
                repetitions: 2,
                warmup: 0,
                sync_records: 1,
                sync_reference_rate: 100,
                partitions: 1,
                client: BTreeMap::new(),
                java_client: BTreeMap::new(),
                cpus: 2,
                started_at: String::new(),
            },
            throughput: Vec::new(),
            latency: Vec::new(),
            verify: Some(v),
            targets: Vec::new(),
            notes: Vec::new(),
        };
        r.targets = targets::targets(&r);
        let text = render(&r);
        assert!(text.contains("verify() over 10000"), "{text}");
        assert!(
            text.contains("ledger memory < 200 bytes per record"),
            "{text}"
        );
    }

    /// The whole bench, small, on a real process broker:
    /// `cargo test --release --lib bench::tests::bench_end_to_end -- --ignored --nocapture`
    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "starts a broker, runs kcat and java"]
    async fn bench_end_to_end() {
        let mut a = parse(&[
            "--records",
            "5000",
            "--repetitions",
            "1",
            "--warmup",
            "0",
            "--sync-records",
            "50",
            "--verify-records",
            "100000",
        ]);
        if let Ok(extra) = std::env::var("KAFKA_CHAOS_BENCH_ARGS") {
            let mut argv: Vec<&str> = vec![];
            argv.extend(extra.split_whitespace());
            a = parse(&argv);
        }
        let r = run(&a).await.unwrap();
        println!("{}", render(&r));
        assert!(r
            .throughput
            .iter()
            .all(|t| t.error.is_some() || !t.runs.is_empty()));
    }
}
