//! What every measurement on the broker shares: a fresh topic each, the
//! records' payload file for kcat and ProducerPerformance, the harness's
//! producer run as an experiment would, and the topic's high watermarks.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use super::BenchArgs;
use crate::broker::Broker;
use crate::model::ledger::Ledger;
use crate::produce::payload::payload;
use crate::produce::{self, ProduceJob, Produced};
use crate::run;
use crate::spec::ExperimentSpec;

/// The broker measured on, and the settings every measurement shares.
pub(super) struct OnBroker<'a> {
    pub(super) args: &'a BenchArgs,
    pub(super) broker: &'a Broker,
    pub(super) run_id: &'a str,
    /// Where the payload files go.
    pub(super) work: &'a Path,
    pub(super) bootstrap: String,
    /// ProducerPerformance's classpath.
    pub(super) kafka_home: PathBuf,
    /// Whether ProducerPerformance can run (else why not).
    pub(super) perf_ok: Result<String, String>,
    /// The librdkafka settings of the harness and kcat.
    pub(super) client: BTreeMap<String, String>,
    /// The Java client settings of ProducerPerformance.
    pub(super) java_client: BTreeMap<String, String>,
}

impl OnBroker<'_> {
    /// A fresh topic for one measurement.
    pub(super) async fn topic(&self, label: &str) -> anyhow::Result<String> {
        let topic = run::topic_name(self.run_id, &format!("bench-{label}"));
        self.broker
            .create_topic(&topic, 1)
            .await
            .with_context(|| format!("cannot create topic {topic}"))?;
        Ok(topic)
    }

    pub(super) async fn topic_with(&self, label: &str, partitions: i32) -> anyhow::Result<String> {
        let topic = run::topic_name(self.run_id, &format!("bench-{label}"));
        self.broker
            .create_topic(&topic, partitions)
            .await
            .with_context(|| format!("cannot create topic {topic}"))?;
        Ok(topic)
    }

    /// The topic's payloads, one per line, as the harness would send them.
    pub(super) fn payload_file(&self, topic: &str, n: u64, size: usize) -> anyhow::Result<PathBuf> {
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

/// Lets the broker finish the previous measurement's work.
pub(super) async fn pause_between() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Runs the harness's producer as an experiment would, without a fault.
pub(super) async fn produce(
    spec: &ExperimentSpec,
    bootstrap: &str,
    topic: &str,
) -> anyhow::Result<Produced> {
    let gate = crate::produce::FaultGate::open();
    let job = ProduceJob {
        spec,
        bootstrap,
        topic,
        origin: Instant::now(),
        gate: &gate,
    };
    let mut observer = |_: u64, _: f64| {};
    Ok(produce::produce(job, &mut observer).await?)
}

/// When the last outcome was reported (seconds since the origin).
pub(super) fn last_report(ledger: &Ledger) -> Option<f64> {
    ledger
        .entries
        .iter()
        .filter_map(|e| e.outcome.reported_at())
        .max_by(f64::total_cmp)
}

/// The sum of the topic's high watermarks, read until it reaches
/// `expected` or stops changing for a second.
pub(super) async fn settle_watermark(
    bootstrap: &str,
    topic: &str,
    expected: u64,
) -> anyhow::Result<u64> {
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
