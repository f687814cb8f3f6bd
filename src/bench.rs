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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;
use serde::Serialize;

use crate::broker::{self, Backend, Broker, BrokerConfig};
use crate::model::ledger::{Ledger, LedgerEntry, Outcome, Persistence, Told};
use crate::model::verdict::{ConsumedRecord, RecordVerdict};
use crate::produce::payload::payload;
use crate::produce::{self, ProduceJob, Produced};
use crate::run;
use crate::spec::{ExperimentSpec, Mode, Profile};
use crate::verify::verifier;

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
        report.settings.kcat_version = kcat_version(&args.kcat).await;
        report.settings.java_version = java_version().await;
        let run_id = run::new_run_id();
        let mut cfg = BrokerConfig::new(args.backend, format!("bench-{run_id}"));
        cfg.kafka_version = args.kafka_version.clone();
        cfg.kafka_home = args.kafka_home.clone();
        cfg.image = args.image.clone();
        cfg.ready_timeout = args.ready_timeout;
        tracing::info!("starting the broker ({} backend)", args.backend);
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
    report.targets = targets(&report);
    add_general_notes(args, &mut report);
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

fn row(name: &str, subject: Subject, reference: bool, clock: &str) -> ThroughputRow {
    ThroughputRow {
        name: name.to_string(),
        subject,
        reference,
        runs: Vec::new(),
        delivered: Vec::new(),
        clock: clock.to_string(),
        error: None,
    }
}

fn lat_row(name: &str, subject: Subject, clock: &str) -> LatencyRow {
    LatencyRow {
        name: name.to_string(),
        subject,
        p50_ms: Vec::new(),
        p99_ms: Vec::new(),
        max_ms: Vec::new(),
        per_record_ms: Vec::new(),
        clock: clock.to_string(),
        error: None,
    }
}

/// Where a measurement's records and payload file live.
struct Target<'a> {
    broker: &'a Broker,
    run_id: &'a str,
    work: &'a Path,
}

impl Target<'_> {
    /// A fresh topic for one measurement.
    async fn topic(&self, label: &str) -> anyhow::Result<String> {
        let topic = run::topic_name(self.run_id, &format!("bench-{label}"));
        self.broker
            .create_topic(&topic, 1)
            .await
            .with_context(|| format!("cannot create topic {topic}"))?;
        Ok(topic)
    }

    async fn topic_with(&self, label: &str, partitions: i32) -> anyhow::Result<String> {
        let topic = run::topic_name(self.run_id, &format!("bench-{label}"));
        self.broker
            .create_topic(&topic, partitions)
            .await
            .with_context(|| format!("cannot create topic {topic}"))?;
        Ok(topic)
    }

    /// The topic's payloads, one per line, as the harness would send them.
    fn payload_file(&self, topic: &str, n: u64, size: usize) -> anyhow::Result<PathBuf> {
        let path = self.work.join(format!("{topic}.txt"));
        let f = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = std::io::BufWriter::new(f);
        for seq in 0..n {
            w.write_all(&payload(topic, seq, size))?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
        Ok(path)
    }
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
    let bootstrap = broker.bootstrap().to_string();
    let t = Target {
        broker,
        run_id,
        work: work.path(),
    };
    let kafka_home = args
        .kafka_home
        .clone()
        .unwrap_or_else(|| broker::process::default_kafka_home(&args.kafka_version));
    let perf_ok = broker::process::inspect_kafka_home(&kafka_home)
        .map_err(|e| format!("ProducerPerformance not run: {e}"));
    let client = report.settings.client.clone();
    let java_client = report.settings.java_client.clone();
    let async_spec = harness_spec(args, Mode::Async, args.records)?;
    let ff_spec = harness_spec(args, Mode::FireAndForget, args.records)?;
    let sync_spec = harness_spec(args, Mode::Sync, args.sync_records)?;
    let n = args.records;
    let p = args.partitions;

    let mut async_ack = row(
        ASYNC_ACK,
        Subject::Harness,
        false,
        "first send() → last delivery report (all records acknowledged)",
    );
    let mut async_close = row(
        ASYNC_CLOSE,
        Subject::Harness,
        false,
        "first send() → flush() and producer closed (mode::produce's end)",
    );
    let mut ff_handed = row(
        FF_HANDED,
        Subject::Harness,
        false,
        "first send() → last send() returned (no flush, by design)",
    );
    let mut ff_delivered = row(
        FF_DELIVERED,
        Subject::Harness,
        false,
        "records in the topic ÷ (first send() → producer closed)",
    );
    let mut kcat = row(
        KCAT,
        Subject::Kcat,
        true,
        "process start → exit (kcat waits for every delivery report)",
    );
    let mut perf = row(
        PERF,
        Subject::ProducerPerformance,
        true,
        "the tool's final line: first send → last callback, JVM start excluded",
    );
    let mut perf_wall = row(
        PERF_WALL,
        Subject::ProducerPerformance,
        false,
        "process start → exit, JVM start-up included",
    );
    let mut perf_batch = row(
        PERF_BATCH,
        Subject::ProducerPerformance,
        false,
        "as its own figure, with librdkafka's batch size (the Java default is 16384 bytes)",
    );
    if let Err(e) = &perf_ok {
        perf.error = Some(e.clone());
        perf_wall.error = Some(e.clone());
        perf_batch.error = Some(e.clone());
    }
    let mut java_batch = java_client.clone();
    java_batch.insert("batch.size".into(), "1000000".into());
    let mut kcat_fixed: Vec<f64> = Vec::new();
    let mut close_cost: Vec<f64> = Vec::new();

    let rounds = args.warmup + args.repetitions;
    for round in 0..rounds {
        let counted = round >= args.warmup;
        let tag = if counted {
            format!("r{}", round - args.warmup + 1)
        } else {
            format!("w{}", round + 1)
        };
        tracing::info!(
            "throughput round {tag} ({})",
            if counted { "counted" } else { "warm-up" }
        );

        // The harness, async.
        let topic = t.topic_with(&format!("async-{tag}"), p).await?;
        let produced = produce(&async_spec, &bootstrap, &topic).await?;
        let delivered = settle_watermark(&bootstrap, &topic, n).await?;
        let acked = produced.ledger.count(Told::Acked) as u64;
        if acked != n {
            report.notes.push(format!(
                "round {tag}: harness async acknowledged {acked} of {n} records"
            ));
        }
        if counted {
            let last_ack = last_report(&produced.ledger).unwrap_or(produced.ended);
            async_ack.runs.push(rate(n, last_ack - produced.first_send));
            async_ack.delivered.push(delivered);
            async_close
                .runs
                .push(rate(n, produced.ended - produced.first_send));
            async_close.delivered.push(delivered);
            close_cost.push(produced.ended - last_ack);
        }
        pause_between().await;

        // The harness, fire-and-forget.
        let topic = t.topic_with(&format!("ff-{tag}"), p).await?;
        let produced = produce(&ff_spec, &bootstrap, &topic).await?;
        let delivered = settle_watermark(&bootstrap, &topic, n).await?;
        if counted {
            ff_handed
                .runs
                .push(rate(n, produced.last_send - produced.first_send));
            ff_handed.delivered.push(delivered);
            ff_delivered
                .runs
                .push(rate(delivered, produced.ended - produced.first_send));
            ff_delivered.delivered.push(delivered);
        }
        pause_between().await;

        // kcat -P, the same records, the same librdkafka settings.
        if kcat.error.is_none() {
            let topic = t.topic_with(&format!("kcat-{tag}"), p).await?;
            let file = t.payload_file(&topic, n, args.record_size)?;
            match run_kcat(&args.kcat, &bootstrap, &topic, &file, &client, &[]).await {
                Ok(wall) => {
                    let delivered = settle_watermark(&bootstrap, &topic, n).await?;
                    if delivered != n {
                        report.notes.push(format!(
                            "round {tag}: kcat delivered {delivered} of {n} records"
                        ));
                    }
                    if counted {
                        kcat.runs.push(rate(n, wall));
                        kcat.delivered.push(delivered);
                    }
                }
                Err(e) => kcat.error = Some(format!("{e:#}")),
            }
            let _ = std::fs::remove_file(&file);
            // kcat's fixed cost: start, metadata, one record, destroy.
            if counted && kcat.error.is_none() {
                let topic = t.topic(&format!("kcat1-{tag}")).await?;
                let file = t.payload_file(&topic, 1, args.record_size)?;
                if let Ok(wall) =
                    run_kcat(&args.kcat, &bootstrap, &topic, &file, &client, &[]).await
                {
                    kcat_fixed.push(wall);
                }
            }
            pause_between().await;
        }

        // Kafka's ProducerPerformance (Java client).
        if perf.error.is_none() {
            let topic = t.topic_with(&format!("perf-{tag}"), p).await?;
            let file = t.payload_file(&topic, n, args.record_size)?;
            match run_perf(&kafka_home, &bootstrap, &topic, n, &file, -1, &java_client).await {
                Ok(out) => {
                    let delivered = settle_watermark(&bootstrap, &topic, n).await?;
                    if delivered != n {
                        report.notes.push(format!(
                            "round {tag}: ProducerPerformance delivered {delivered} of {n} records"
                        ));
                    }
                    if counted {
                        perf.runs.push(out.records_per_sec);
                        perf.delivered.push(delivered);
                        perf_wall.runs.push(rate(n, out.wall_s));
                        perf_wall.delivered.push(delivered);
                    }
                }
                Err(e) => {
                    perf.error = Some(format!("{e:#}"));
                    perf_wall.error = perf.error.clone();
                }
            }
            let _ = std::fs::remove_file(&file);
            pause_between().await;
        }
        if perf_batch.error.is_none() {
            let topic = t.topic_with(&format!("perfb-{tag}"), p).await?;
            let file = t.payload_file(&topic, n, args.record_size)?;
            match run_perf(&kafka_home, &bootstrap, &topic, n, &file, -1, &java_batch).await {
                Ok(out) => {
                    let delivered = settle_watermark(&bootstrap, &topic, n).await?;
                    if counted {
                        perf_batch.runs.push(out.records_per_sec);
                        perf_batch.delivered.push(delivered);
                    }
                }
                Err(e) => perf_batch.error = Some(format!("{e:#}")),
            }
            let _ = std::fs::remove_file(&file);
            pause_between().await;
        }
    }
    if !kcat_fixed.is_empty() {
        report.notes.push(format!(
            "kcat's fixed cost (process start, metadata, 1 record, exit), measured with a \
             1-record file: median {:.1} ms; it is inside kcat's wall time",
            median(&kcat_fixed) * 1e3
        ));
    }
    if !close_cost.is_empty() {
        report.notes.push(format!(
            "harness async: from the last delivery report to the producer closed (flush() \
             returning, the client dropped) took {:.0} ms median ({}); rust-rdkafka polls in \
             100 ms steps there (flush()'s poll and the polling thread's join)",
            median(&close_cost) * 1e3,
            close_cost
                .iter()
                .map(|c| format!("{:.0}", c * 1e3))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    report.throughput = vec![
        async_ack,
        async_close,
        ff_handed,
        ff_delivered,
        kcat,
        perf,
        perf_wall,
        perf_batch,
    ];

    // Sync latency.
    let sn = args.sync_records;
    let mut sync_h = lat_row(
        SYNC_HARNESS,
        Subject::Harness,
        "send() → its delivery report, per record; the next send waits for it",
    );
    let mut sync_p = lat_row(
        SYNC_PERF,
        Subject::ProducerPerformance,
        "send() → callback, per record, as the tool reports it (whole ms)",
    );
    let mut sync_k = lat_row(
        SYNC_KCAT,
        Subject::Kcat,
        "process wall time ÷ records (no per-record figures)",
    );
    if let Err(e) = &perf_ok {
        sync_p.error = Some(e.clone());
    }
    if let Some(e) = &report
        .throughput
        .iter()
        .find(|r| r.subject == Subject::Kcat)
        .and_then(|r| r.error.clone())
    {
        sync_k.error = Some(e.clone());
    }
    let mut java_sync = java_client.clone();
    java_sync.insert("max.in.flight.requests.per.connection".into(), "1".into());
    for rep in 1..=args.repetitions {
        let tag = format!("r{rep}");
        tracing::info!("sync-latency round {tag}");
        let topic = t.topic_with(&format!("sync-{tag}"), p).await?;
        let produced = produce(&sync_spec, &bootstrap, &topic).await?;
        let mut lat: Vec<f64> = produced
            .ledger
            .entries
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Acked { .. }))
            .filter_map(LedgerEntry::latency)
            .map(|s| s * 1e3)
            .collect();
        lat.sort_by(f64::total_cmp);
        if lat.len() as u64 != sn {
            report.notes.push(format!(
                "round {tag}: harness sync acknowledged {} of {sn} records",
                lat.len()
            ));
        }
        let span = last_report(&produced.ledger).unwrap_or(produced.ended) - produced.first_send;
        sync_h.p50_ms.push(percentile(&lat, 50.0));
        sync_h.p99_ms.push(percentile(&lat, 99.0));
        sync_h.max_ms.push(lat.last().copied().unwrap_or(f64::NAN));
        sync_h.per_record_ms.push(span * 1e3 / sn as f64);
        pause_between().await;

        if sync_p.error.is_none() {
            let topic = t.topic_with(&format!("psync-{tag}"), p).await?;
            let file = t.payload_file(&topic, sn, args.record_size)?;
            match run_perf(
                &kafka_home,
                &bootstrap,
                &topic,
                sn,
                &file,
                i64::from(args.sync_reference_rate),
                &java_sync,
            )
            .await
            {
                Ok(out) => {
                    sync_p.p50_ms.push(out.p50_ms);
                    sync_p.p99_ms.push(out.p99_ms);
                    sync_p.max_ms.push(out.max_ms);
                    // Its pace is the throttle's, not the round trip's: no
                    // per-record figure.
                }
                Err(e) => sync_p.error = Some(format!("{e:#}")),
            }
            let _ = std::fs::remove_file(&file);
            pause_between().await;
        }

        if sync_k.error.is_none() {
            let topic = t.topic_with(&format!("ksync-{tag}"), p).await?;
            let file = t.payload_file(&topic, sn, args.record_size)?;
            let one = [("queue.buffering.max.messages", "1")];
            match run_kcat(&args.kcat, &bootstrap, &topic, &file, &client, &one).await {
                Ok(wall) => {
                    let delivered = settle_watermark(&bootstrap, &topic, sn).await?;
                    if delivered != sn {
                        report.notes.push(format!(
                            "round {tag}: kcat (1 in queue) delivered {delivered} of {sn}"
                        ));
                    }
                    sync_k.per_record_ms.push(wall * 1e3 / sn as f64);
                }
                Err(e) => sync_k.error = Some(format!("{e:#}")),
            }
            let _ = std::fs::remove_file(&file);
            pause_between().await;
        }
    }
    report.latency = vec![sync_h, sync_p, sync_k];
    Ok(())
}

/// Lets the broker finish the previous measurement's work.
async fn pause_between() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Runs the harness's producer as an experiment would, without a fault.
async fn produce(spec: &ExperimentSpec, bootstrap: &str, topic: &str) -> anyhow::Result<Produced> {
    let job = ProduceJob {
        spec,
        bootstrap,
        topic,
        origin: Instant::now(),
    };
    let mut observer = |_: u64, _: f64| {};
    Ok(produce::produce(job, &mut observer).await?)
}

/// When the last outcome was reported (seconds since the origin).
fn last_report(ledger: &Ledger) -> Option<f64> {
    ledger
        .entries
        .iter()
        .filter_map(|e| e.outcome.reported_at())
        .max_by(f64::total_cmp)
}

fn rate(records: u64, seconds: f64) -> f64 {
    records as f64 / seconds.max(1e-9)
}

/// The sum of the topic's high watermarks, read until it reaches
/// `expected` or stops changing for a second.
async fn settle_watermark(bootstrap: &str, topic: &str, expected: u64) -> anyhow::Result<u64> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("log_level", "3")
            .create()
            .context("cannot create a metadata client")?;
        let read = || -> anyhow::Result<u64> {
            let md = consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(10))
                .context("metadata")?;
            let parts: Vec<i32> = md
                .topics()
                .iter()
                .filter(|t| t.name() == topic)
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            let mut sum = 0u64;
            for p in parts {
                let (_, hi) = consumer
                    .fetch_watermarks(&topic, p, Duration::from_secs(10))
                    .context("watermarks")?;
                sum += hi.max(0) as u64;
            }
            Ok(sum)
        };
        let started = Instant::now();
        let mut last = read()?;
        let mut since = Instant::now();
        while last < expected
            && since.elapsed() < Duration::from_secs(1)
            && started.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(100));
            let now = read()?;
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
        Ok(last)
    })
    .await
    .context("watermark task failed")?
}

/// `kcat -P -l FILE`: the whole process, timed. Returns seconds.
async fn run_kcat(
    kcat: &Path,
    bootstrap: &str,
    topic: &str,
    file: &Path,
    client: &BTreeMap<String, String>,
    extra: &[(&str, &str)],
) -> anyhow::Result<f64> {
    let mut cmd = tokio::process::Command::new(kcat);
    cmd.args(["-P", "-q", "-b", bootstrap, "-t", topic]);
    for (k, v) in client {
        cmd.arg("-X").arg(format!("{k}={v}"));
    }
    for (k, v) in extra {
        cmd.arg("-X").arg(format!("{k}={v}"));
    }
    // Under `cargo run`/`cargo test`, LD_LIBRARY_PATH points at the build's
    // own librdkafka.so, which kcat would then load instead of its own: run
    // kcat as installed.
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd.arg("-l")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let out = cmd
        .output()
        .await
        .with_context(|| format!("cannot run {}", kcat.display()))?;
    let wall = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "kcat failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(wall)
}

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

fn java_command() -> PathBuf {
    if let Ok(h) = std::env::var("JAVA_HOME") {
        let p = Path::new(&h).join("bin").join("java");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("java")
}

async fn run_perf(
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

async fn kcat_version(kcat: &Path) -> Option<String> {
    let out = tokio::process::Command::new(kcat)
        .arg("-V")
        .output()
        .await
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines().find(|l| l.starts_with("Version")).map(|l| {
        // "Version 1.7.1 (JSON, …, librdkafka 2.0.2 builtin.features=…)"
        let kcat = l.split_whitespace().nth(1).unwrap_or("?");
        let lib = l
            .split("librdkafka ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or("?");
        format!("kcat {kcat} (librdkafka {lib})")
    })
}

async fn java_version() -> Option<String> {
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

/// Median of a non-empty slice (NaN for an empty one).
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Nearest-rank percentile of a sorted slice.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn min_max(v: &[f64]) -> (f64, f64) {
    let s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    (
        s.iter().copied().fold(f64::INFINITY, f64::min),
        s.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

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

fn find<'a>(rows: &'a [ThroughputRow], name: &str) -> Option<&'a ThroughputRow> {
    rows.iter().find(|r| r.name == name && !r.runs.is_empty())
}

/// The issue's targets, against what was reached (never asserted).
fn targets(r: &BenchReport) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    let kcat = find(&r.throughput, KCAT).map(|k| median(&k.runs));
    // kcat's wall time runs to its exit, so the harness's comparable figure
    // runs to the producer closed; the figure to the last ack is shown too.
    let harness = find(&r.throughput, ASYNC_CLOSE).map(|k| median(&k.runs));
    let to_ack = find(&r.throughput, ASYNC_ACK).map(|k| median(&k.runs));
    if !r.throughput.is_empty() {
        out.push(match (harness, kcat) {
            (Some(h), Some(k)) => TargetCheck {
                target: "harness async throughput ≥ 90% of kcat's".into(),
                reached: format!(
                    "{:.0}% to the producer closed ({h:.0} vs {k:.0} records/s); {} to the last ack",
                    100.0 * h / k,
                    to_ack
                        .map(|a| format!("{:.0}%", 100.0 * a / k))
                        .unwrap_or_else(|| "—".into())
                ),
                met: Some(h >= 0.9 * k),
            },
            _ => TargetCheck {
                target: "harness async throughput ≥ 90% of kcat's".into(),
                reached: "not measured".into(),
                met: None,
            },
        });
    }
    if let Some(v) = &r.verify {
        let m = median(&v.runs_s);
        out.push(TargetCheck {
            target: format!("verify() of {} records < 3 s", v.records),
            reached: format!("{m:.3} s (median)"),
            // The target is stated for 1,000,000 records.
            met: (v.records >= 1_000_000).then_some(m < 3.0),
        });
        let worst = v.failed_bytes_per_record.max(v.acked_bytes_per_record);
        out.push(TargetCheck {
            target: "ledger memory < 200 bytes per record".into(),
            reached: format!(
                "{:.0} B/record acked, {:.0} B/record all failed (computed; RSS growth {} / {})",
                v.acked_bytes_per_record,
                v.failed_bytes_per_record,
                v.acked_rss_bytes_per_record
                    .map(|b| format!("{b:.0} B"))
                    .unwrap_or_else(|| "n/a".into()),
                v.failed_rss_bytes_per_record
                    .map(|b| format!("{b:.0} B"))
                    .unwrap_or_else(|| "n/a".into()),
            ),
            met: Some(worst < 200.0),
        });
    }
    out
}

fn add_general_notes(args: &BenchArgs, r: &mut BenchReport) {
    if args.verify_only {
        return;
    }
    let (lib, kcat) = (
        r.settings.librdkafka_harness.clone(),
        r.settings
            .kcat_version
            .clone()
            .unwrap_or_else(|| "kcat ?".into()),
    );
    r.notes.push(format!(
        "the harness links librdkafka {lib}; {kcat}: the same settings, not the same library build"
    ));
    r.notes.push(
        "ProducerPerformance runs the Java client with its own defaults besides the settings \
         shown (batch.size 16384 bytes, where librdkafka batches up to 1,000,000 bytes), and \
         sends payloads picked at random from the same file"
            .into(),
    );
    if let Some(ff) = find(&r.throughput, FF_HANDED) {
        let lost: Vec<u64> = ff
            .delivered
            .iter()
            .map(|d| args.records.saturating_sub(*d))
            .collect();
        if lost.iter().any(|l| *l > 0) {
            r.notes.push(format!(
                "fire-and-forget does not flush: records still queued when it ends are purged \
                 with the producer (records not in the topic per repetition: {lost:?}); how many \
                 get out first depends on how long closing takes (rust-rdkafka joins its \
                 polling thread, up to 100 ms, before it purges)"
            ));
        }
    }
    r.notes.push(format!(
        "all producers share one {}-CPU host with the broker: every figure includes the \
         competition for CPU between client and broker",
        r.settings.cpus
    ));
}

fn fmt_rate(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else {
        let s = format!("{:.0}", v);
        // Thousands separators.
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    }
}

fn fmt_ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "—".into()
    }
}

fn fmt_ms(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "—".into()
    }
}

/// The report as text: the throughput table, the latency table, the
/// verifier's figures, the targets and the notes.
pub fn render(r: &BenchReport) -> String {
    let mut s = String::new();
    let st = &r.settings;
    let _ = writeln!(s, "kafka-chaos bench");
    if let (Some(b), Some(v)) = (&st.backend, &st.kafka_version) {
        let _ = writeln!(
            s,
            "broker: Kafka {v} ({b} backend); harness: librdkafka {}; {}; {}",
            st.librdkafka_harness,
            st.kcat_version.as_deref().unwrap_or("kcat: not found"),
            st.java_version.as_deref().unwrap_or("java: not found"),
        );
        let _ = writeln!(
            s,
            "{} records of {} bytes per measurement, {} partition(s), acks={}, linger.ms={}; \
             {} counted repetition(s) after {} warm-up round(s); a fresh topic each",
            st.records,
            st.record_bytes,
            st.partitions,
            st.client.get("acks").map(String::as_str).unwrap_or("?"),
            st.client
                .get("linger.ms")
                .map(String::as_str)
                .unwrap_or("?"),
            st.repetitions,
            st.warmup
        );
    }

    if !r.throughput.is_empty() {
        let kcat = find(&r.throughput, KCAT).map(|k| median(&k.runs));
        let perf = find(&r.throughput, PERF).map(|k| median(&k.runs));
        let w = r
            .throughput
            .iter()
            .map(|x| x.name.chars().count())
            .max()
            .unwrap_or(0);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Throughput (records/s)\n{:<w$}  {:>9}  {:>19}  {:>7}  {:>10}  in topic",
            "", "median", "min–max", "÷ kcat", "÷ ProdPerf",
        );
        for row in &r.throughput {
            if let Some(e) = &row.error {
                let _ = writeln!(s, "{:<w$}  not measured: {e}", row.name);
                continue;
            }
            let m = median(&row.runs);
            let (lo, hi) = min_max(&row.runs);
            let delivered = if row.delivered.is_empty() {
                "—".into()
            } else {
                let (a, b) = (
                    row.delivered.iter().min().copied().unwrap_or(0),
                    row.delivered.iter().max().copied().unwrap_or(0),
                );
                if a == b {
                    format!("{a}")
                } else {
                    format!("{a}–{b}")
                }
            };
            let _ = writeln!(
                s,
                "{:<w$}  {:>9}  {:>19}  {:>7}  {:>10}  {}",
                row.name,
                fmt_rate(m),
                format!("{}–{}", fmt_rate(lo), fmt_rate(hi)),
                fmt_ratio(kcat.map(|k| m / k).unwrap_or(f64::NAN)),
                fmt_ratio(perf.map(|k| m / k).unwrap_or(f64::NAN)),
                delivered,
            );
        }
        let _ = writeln!(s, "clocks:");
        for row in &r.throughput {
            let _ = writeln!(s, "  {}: {}", row.name, row.clock);
        }
    }

    if !r.latency.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Sync latency ({} records per repetition; medians over repetitions, ms; \
             ratios are harness ÷ reference, lower is better)",
            st.sync_records
        );
        let w = r
            .latency
            .iter()
            .map(|x| x.name.chars().count())
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "{:<w$}  {:>7}  {:>7}  {:>8}  {:>10}  {:>8}",
            "", "p50", "p99", "max", "per record", "harness ÷"
        );
        let harness = r.latency.iter().find(|x| x.subject == Subject::Harness);
        for row in &r.latency {
            if let Some(e) = &row.error {
                let _ = writeln!(s, "{:<w$}  not measured: {e}", row.name);
                continue;
            }
            let ratio = match (harness, row.subject) {
                (_, Subject::Harness) | (None, _) => "—".to_string(),
                (Some(h), Subject::ProducerPerformance) => {
                    format!("p50 {}", fmt_ratio(median(&h.p50_ms) / median(&row.p50_ms)))
                }
                (Some(h), Subject::Kcat) => format!(
                    "per rec {}",
                    fmt_ratio(median(&h.per_record_ms) / median(&row.per_record_ms))
                ),
            };
            let _ = writeln!(
                s,
                "{:<w$}  {:>7}  {:>7}  {:>8}  {:>10}  {}",
                row.name,
                fmt_ms(median(&row.p50_ms)),
                fmt_ms(median(&row.p99_ms)),
                fmt_ms(median(&row.max_ms)),
                fmt_ms(median(&row.per_record_ms)),
                ratio
            );
        }
        let _ = writeln!(s, "clocks:");
        for row in &r.latency {
            let _ = writeln!(s, "  {}: {}", row.name, row.clock);
        }
    }

    if let Some(v) = &r.verify {
        let (lo, hi) = min_max(&v.runs_s);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Verifier: verify() over {} acknowledged records read back once: median {:.3} s \
             (min {:.3}, max {:.3}, {} runs)",
            v.records,
            median(&v.runs_s),
            lo,
            hi,
            v.runs_s.len()
        );
        let _ = writeln!(
            s,
            "Ledger memory per record: LedgerEntry is {} bytes; all acked {:.0} B (RSS growth {}); \
             all failed with \"{}\" {:.0} B (RSS growth {})",
            v.entry_bytes,
            v.acked_bytes_per_record,
            v.acked_rss_bytes_per_record
                .map(|b| format!("{b:.0} B"))
                .unwrap_or_else(|| "n/a".into()),
            v.failed_error,
            v.failed_bytes_per_record,
            v.failed_rss_bytes_per_record
                .map(|b| format!("{b:.0} B"))
                .unwrap_or_else(|| "n/a".into()),
        );
        let _ = writeln!(
            s,
            "Beside the ledger during verification: {} B per record read back, {} B per verdict",
            v.consumed_record_bytes, v.verdict_bytes
        );
    }

    if !r.targets.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Targets (measured, not asserted)");
        for t in &r.targets {
            let mark = match t.met {
                Some(true) => "met   ",
                Some(false) => "MISSED",
                None => "n/a   ",
            };
            let _ = writeln!(s, "  {mark}  {}: {}", t.target, t.reached);
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Notes");
        for n in &r.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&s, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
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
        r.targets = targets(&r);
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
