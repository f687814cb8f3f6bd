//! Helpers shared by the integration tests. Every test here runs against a
//! real Apache Kafka broker that the harness itself starts (container or
//! local process), never a mock.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use kafka_chaos::broker::{Backend, Broker, BrokerConfig};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;

/// The harness binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kafka-chaos"))
}

/// A harness process a test started. If the test ends (or fails) while it
/// still runs, dropping the guard interrupts it as Ctrl+C would (SIGINT:
/// it removes its brokers and gives back its node slots), and kills it if
/// it has not ended 60 s later: a failed assertion must not leave a harness
/// behind that holds brokers and slots the next tests wait for.
pub struct Harness(pub Child);

impl Deref for Harness {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        if exited_within(&mut self.0, Duration::from_secs(60)).is_some() {
            return;
        }
        eprintln!("the harness did not end within 60 s of SIGINT: killing it");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How `child` ended, if it does within `within` (checked every 100 ms);
/// `None` if it still runs then.
pub fn exited_within(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The crate's folder (specs, scripts).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A broker config for a test, labelled with the test's name.
pub fn config(backend: Backend, label: &str) -> BrokerConfig {
    let mut c = BrokerConfig::new(backend, format!("test-{label}-{}", std::process::id()));
    c.ready_timeout = Duration::from_secs(180);
    c
}

pub async fn start(backend: Backend, label: &str) -> Broker {
    match Broker::start(&config(backend, label)).await {
        Ok(b) => b,
        Err(e) => panic!("broker ({backend}) did not start: {e}"),
    }
}

/// Produces `n` records with acks=all and waits for every acknowledgement.
/// Returns how many were acknowledged.
pub async fn produce_acked(bootstrap: &str, topic: &str, n: u64, timeout_ms: u64) -> u64 {
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", timeout_ms.to_string())
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let futures: Vec<_> = (0..n)
        .map(|i| {
            let payload = kafka_chaos::produce::payload::payload(topic, i, 0);
            let p = p.clone();
            let topic = topic.to_string();
            async move {
                p.send(
                    FutureRecord::<(), _>::to(&topic).payload(&payload),
                    Timeout::After(Duration::from_secs(5)),
                )
                .await
                .is_ok()
            }
        })
        .collect();
    futures::future::join_all(futures)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count() as u64
}

/// `podman` with the harness's configuration, for checks from outside.
pub fn podman(args: &[&str]) -> String {
    let out = Command::new("podman")
        .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
        .args(args)
        .output()
        .expect("podman runs");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Containers (running or not) carrying a label value.
pub fn containers_with_label(label: &str) -> Vec<String> {
    podman(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label={label}"),
    ])
    .lines()
    .map(str::to_string)
    .filter(|l| !l.is_empty())
    .collect()
}

/// Processes whose command line contains `needle`.
pub fn processes_matching(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
                if String::from_utf8_lossy(&cmd).contains(needle) {
                    pids.push(pid);
                }
            }
        }
    }
    pids
}

pub fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

/// A shipped spec (quick profile), run on a fresh broker of `backend`. The
/// broker is handed back alive, with the topic, so a test can look at it
/// from outside before removing it. The invariants of every run are checked.
pub async fn run_shipped_keep(
    name: &str,
    backend: Backend,
) -> (
    kafka_chaos::spec::ExperimentSpec,
    kafka_chaos::model::result::ExperimentResult,
    Broker,
    String,
) {
    use kafka_chaos::run::{run_experiment, topic_name, Silent};
    use kafka_chaos::spec::{ExperimentSpec, Profile};
    let spec = ExperimentSpec::load(
        &root().join("experiments").join(format!("{name}.toml")),
        Profile::Quick,
    )
    .expect("shipped spec loads");
    // The cluster shape the spec asks for (brokers, [broker] properties).
    let cfg = kafka_chaos::run::config_for(&config(backend, name), &spec);
    let mut broker = match Broker::start(&cfg).await {
        Ok(b) => b,
        Err(e) => panic!("{name}: broker ({backend}) did not start: {e}"),
    };
    let topic = topic_name(&format!("test-{}", std::process::id()), name);
    let result = run_experiment(&mut broker, &spec, &topic, &cfg, 0.0, &mut Silent)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let c = &result.verification.counts;
    assert_eq!(c.sent, spec.records, "{name}: every record sent");
    assert_eq!(c.sent, c.acked + c.failed + c.unreported, "{name}: {c:?}");
    assert_eq!(result.verification.records.len() as u64, c.sent, "{name}");
    assert_eq!(c.unexpected, 0, "{name}: {c:?}");
    assert!(
        result.verified(),
        "{name}: not verified: {:?}",
        result.integrity
    );
    (spec, result, broker, topic)
}

/// [`run_shipped_keep`], with the broker removed afterwards.
pub async fn run_shipped(
    name: &str,
    backend: Backend,
) -> (
    kafka_chaos::spec::ExperimentSpec,
    kafka_chaos::model::result::ExperimentResult,
) {
    let (spec, result, broker, _) = run_shipped_keep(name, backend).await;
    broker.remove().await;
    (spec, result)
}
