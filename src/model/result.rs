//! What one finished experiment hands to the verifier's caller and to the reports.
//!
//! Plain data: the runner fills it, the reports read it. Times are seconds
//! since the experiment's time origin (the moment the producer started).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::model::command::CommandRun;
use crate::model::ledger::Ledger;
use crate::model::names;
use crate::model::plan::Plan;
use crate::model::verdict::Verification;

/// A partition's leadership at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leadership {
    /// The leader's node id (-1: none).
    pub leader: i32,
    pub epoch: i32,
}

/// A window during which a fault was in force (for shading in charts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// Fault kind, e.g. `hard_shutdown`.
    pub kind: String,
    /// Seconds since the time origin when the fault was in force (its
    /// injection had completed: the signal delivered, the broker frozen, the
    /// network switched). The same as `injected_at`.
    pub start: f64,
    /// Seconds since the time origin when the broker was healthy again
    /// (`None` if it never came back).
    pub end: Option<f64>,
    /// The spec's `fault_after`: the record count the fault was asked for.
    pub after_records: u64,
    /// Seconds since the time origin when the injection completed (the
    /// signal was delivered, the pause done, the proxy switched).
    #[serde(default)]
    pub injected_at: f64,
    /// Seconds since the time origin when the broker was down (its process
    /// or container had exited) or frozen; `None` for network faults, and
    /// when it did not settle.
    #[serde(default)]
    pub settled_at: Option<f64>,
    /// Records handed to the client when the fault was in force.
    #[serde(default)]
    pub sent_at_injection: u64,
    /// Records acknowledged to the client when the fault was in force
    /// (delivery reports of success; an external producer's `ack` lines).
    #[serde(default)]
    pub acked_at_injection: u64,
    /// The target as the spec names it (`leader`, `broker:2`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// The node(s) hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<i32>,
    /// Partition 0's leader and epoch just before the injection…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_before: Option<Leadership>,
    /// …and once the fault was healed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_after: Option<Leadership>,
    /// How long the spec kept the fault in force before healing it, in
    /// seconds (`downtime`; 0 for bounces). `None` when it lasted until the
    /// producer ended, or in results written before this field existed.
    #[serde(default)]
    pub downtime_s: Option<f64>,
    /// The fault lasted until the producer ended (`downtime =
    /// "until-producer-ends"`).
    #[serde(default)]
    pub until_producer_ends: bool,
    /// fault = `latency`: the delay added in each direction, in milliseconds.
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// fault = `power_loss`: what each node's power cut discarded (its
    /// unsynced bytes, per file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub power_cut: Vec<crate::model::powercut::NodePowerCut>,
    /// On a cluster the harness does not run: the commands that injected
    /// and healed the fault, with their output, exit status and timing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandRun>,
}

/// One partition of the experiment's topic after the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionAfter {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The high watermark the read-back read to.
    #[serde(default)]
    pub high_watermark: i64,
}

/// The log end offset of one replica after the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaEnd {
    pub partition: i32,
    pub node: i32,
    /// `None` when the node could not be asked (it was down).
    pub log_end_offset: Option<i64>,
}

/// The cluster an experiment ran on, and the state it left its topic in:
/// after an unclean election the replicas' log ends diverge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterFacts {
    pub brokers: usize,
    pub replication_factor: usize,
    /// Where the nodes kept their logs: `disk`, or `lazyfs` (mounts that
    /// lose unsynced writes at a power cut); empty in older results.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage: String,
    /// Cluster features the spec pinned (`eligible.leader.replicas.version`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, i16>,
    /// The spec's `[broker]` table (broker properties and topic configs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// Seconds the read-back waited for every partition to have a leader
    /// and a full ISR.
    #[serde(default)]
    pub in_sync_wait: f64,
    /// Set when the ISR was not full when the read-back began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_in_sync: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionAfter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaEnd>,
}

impl Default for ClusterFacts {
    fn default() -> Self {
        ClusterFacts {
            brokers: 1,
            replication_factor: 1,
            storage: String::new(),
            features: BTreeMap::new(),
            properties: BTreeMap::new(),
            in_sync_wait: 0.0,
            not_in_sync: None,
            partitions: Vec::new(),
            replicas: Vec::new(),
        }
    }
}

impl FaultWindow {
    /// A window of `kind` from `start`, not healed yet, without parameters.
    pub fn new(kind: impl Into<String>, start: f64, after_records: u64) -> FaultWindow {
        FaultWindow {
            kind: kind.into(),
            start,
            end: None,
            after_records,
            ..Default::default()
        }
    }

    /// The fault with its parameters, as charts and reports name it:
    /// `hard_shutdown, 10s down`, `latency 300ms for 10s`, `network_cut 12s`.
    pub fn describe(&self) -> String {
        let label = describe_fault(
            &self.kind,
            self.downtime_s,
            self.until_producer_ends,
            self.latency_ms,
        );
        match self.aimed_at() {
            Some(who) => label.replacen(&self.kind, &format!("{} of {who}", self.kind), 1),
            None => label,
        }
    }

    /// On a cluster, whom the fault hit: `leader (broker 2)`, `isr
    /// (brokers 1, 3)`, `broker:2`; `None` on one broker.
    pub fn aimed_at(&self) -> Option<String> {
        if self.target.is_empty() {
            return None;
        }
        let ids = self
            .nodes
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        Some(match self.nodes.len() {
            0 => self.target.clone(),
            1 if self.target == format!("broker:{ids}") => self.target.clone(),
            1 => format!("{} (broker {ids})", self.target),
            _ => format!("{} (brokers {ids})", self.target),
        })
    }

    /// How partition 0's leadership changed: `leader 2 → 3 (epoch 4 → 5)`;
    /// `None` when it was not recorded.
    pub fn leader_change(&self) -> Option<String> {
        let (b, a) = (self.leader_before?, self.leader_after?);
        let who = |l: i32| {
            if l < 0 {
                "none".to_string()
            } else {
                l.to_string()
            }
        };
        Some(if b.leader == a.leader && b.epoch == a.epoch {
            format!("leader {} (epoch {}) unchanged", who(b.leader), b.epoch)
        } else {
            format!(
                "leader {} → {} (epoch {} → {})",
                who(b.leader),
                who(a.leader),
                b.epoch,
                a.epoch
            )
        })
    }

    /// How long the window lasted (injection to healthy again), if it ended.
    pub fn duration(&self) -> Option<f64> {
        self.end.map(|e| (e - self.start).max(0.0))
    }
}

/// A fault kind with its parameters in a few words (see
/// [`FaultWindow::describe`]); the bare kind when no parameter is known.
pub fn describe_fault(
    kind: &str,
    downtime_s: Option<f64>,
    until_producer_ends: bool,
    latency_ms: Option<f64>,
) -> String {
    // How long it lasted, if known: "10s", "until the producer ended".
    let held = match (until_producer_ends, downtime_s) {
        (true, _) => Some("until the producer ended".to_string()),
        (false, Some(d)) if d > 0.0 => Some(fmt_duration(d)),
        _ => None,
    };
    match (kind, held) {
        ("none" | "", _) => "none".to_string(),
        ("latency", held) => {
            let delay = latency_ms.map_or(String::new(), |ms| {
                format!(" {}", fmt_duration(ms / 1000.0))
            });
            match held {
                Some(h) if until_producer_ends => format!("latency{delay} {h}"),
                Some(h) => format!("latency{delay} for {h}"),
                None => format!("latency{delay}"),
            }
        }
        // Bounces restart at once: no parameter.
        ("clean_bounce" | "hard_bounce", _) => kind.to_string(),
        ("clean_shutdown" | "hard_shutdown" | "power_loss", Some(h)) if until_producer_ends => {
            format!("{kind}, down {h}")
        }
        ("clean_shutdown" | "hard_shutdown" | "power_loss", Some(h)) => {
            format!("{kind}, {h} down")
        }
        // pause, network_cut, and kinds added later: "network_cut 12s".
        (_, Some(h)) => format!("{kind} {h}"),
        (_, None) => kind.to_string(),
    }
}

pub use crate::model::duration::fmt_duration;

/// The spec an experiment ran with (its profile applied), kept in the
/// results so a report can show it when the file has changed or is gone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpecFacts {
    /// The spec file, as an absolute path when it could be resolved.
    pub file: String,
    /// The file's text when the experiment ran (`None` if unreadable).
    #[serde(default)]
    pub toml: Option<String>,
    pub records: u64,
    pub pause_s: f64,
    pub partitions: i32,
    pub payload_bytes: u64,
    pub fault: String,
    pub fault_after: u64,
    /// See [`FaultWindow::downtime_s`].
    pub downtime_s: Option<f64>,
    pub until_producer_ends: bool,
    pub latency_ms: Option<f64>,
    /// Sync mode: how long `get()` waited per record.
    pub sync_timeout_s: f64,
    /// Transactional mode: records per transaction (0 otherwise).
    pub transaction_size: u64,
    /// The expectations, as written (`lost = 0`, `silent_loss > 0`).
    #[serde(default)]
    pub expect: Vec<String>,
    /// mode = "external": the client settings are the external client's
    /// own, not librdkafka's.
    #[serde(default)]
    pub external: bool,
}

impl SpecFacts {
    /// The spec's fault with its parameters (see [`describe_fault`]).
    pub fn describe_fault(&self) -> String {
        describe_fault(
            &self.fault,
            self.downtime_s,
            self.until_producer_ends,
            self.latency_ms,
        )
    }
}

/// Wall time of each phase of an experiment, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseTimings {
    /// Starting (or reusing) the broker and creating the topic.
    pub broker_start: f64,
    /// From the first send until the producer finished (flushed or ended).
    pub produce: f64,
    /// Time the broker was down or impaired.
    pub outage: f64,
    /// From the heal until the broker answered a readiness probe.
    pub recovery: f64,
    /// Reading the topic back and verifying (including `settle_wait`).
    pub verification: f64,
    /// Of `verification`: waiting until every partition's last stable
    /// offset reached its high watermark (open transactions ended) before
    /// the end of the read-back was fixed.
    #[serde(default)]
    pub settle_wait: f64,
    /// Writing the reports of this experiment.
    pub reporting: f64,
    /// Wall time of the whole experiment, topic creation to reports written
    /// (plus the broker's first start for the first experiment of a run).
    #[serde(default)]
    pub wall: f64,
    /// The time the spec itself asks for: records × pause + downtime.
    #[serde(default)]
    pub asked: f64,
}

impl PhaseTimings {
    /// The harness's own overhead: wall time minus what the spec asks for
    /// (broker start/restart, waiting for reports, verification, reporting).
    pub fn overhead(&self) -> f64 {
        (self.wall - self.asked).max(0.0)
    }
}

/// Send-to-report latency of reported records, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Everything known about one finished experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExperimentResult {
    /// Experiment name (the spec's file stem).
    pub name: String,
    /// Producer mode, e.g. `fire-and-forget`.
    pub mode: String,
    pub description: String,
    /// Topic the experiment wrote to.
    pub topic: String,
    /// Fault kind, or `none`.
    pub fault: String,
    /// The librdkafka properties the producer ran with (all of them that the
    /// harness set, so the outcome can be reproduced).
    pub client_settings: BTreeMap<String, String>,
    /// Record pacing asked for by the spec, in seconds between sends.
    pub pause: f64,
    pub ledger: Ledger,
    pub verification: Verification,
    pub faults: Vec<FaultWindow>,
    pub phases: PhaseTimings,
    /// Records sent per second over the produce phase.
    pub throughput: f64,
    pub latency: LatencyStats,
    /// The spec's expectations, checked against the counts.
    #[serde(default)]
    pub checks: Vec<crate::model::expect::CheckResult>,
    /// What is known about the producer itself: for an external producer,
    /// its client, exit status and protocol problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The cluster and its topic after the run.
    #[serde(default)]
    pub cluster: ClusterFacts,
    /// Why the experiment is NOT VERIFIED: it did not do what its spec asks
    /// (a fault that did not happen, or landed late; a producer that stopped
    /// early; a read-back that could not reach a stable end). Empty when
    /// verified. See [`crate::model::integrity`].
    #[serde(default)]
    pub integrity: Vec<String>,
    /// The spec as it ran (`None` in results written before this field).
    #[serde(default)]
    pub spec: Option<SpecFacts>,
    /// Which repetition of the experiment this is (1-based; `--repeat`).
    #[serde(default = "one")]
    pub repetition: u32,
    /// How many repetitions of the experiment the run asked for.
    #[serde(default = "one")]
    pub repetitions: u32,
    /// The seed and the values drawn for this repetition (`None` in
    /// results written before plans existed).
    #[serde(default)]
    pub plan: Option<Plan>,
}

fn one() -> u32 {
    1
}

impl ExperimentResult {
    /// How people see this run of the experiment: its name, and with
    /// repetitions the repetition (`sync r2`).
    pub fn label(&self) -> String {
        names::run_label(&self.name, self.repetition, self.repetitions)
    }

    /// The stem of its files, before it is made safe as a file name:
    /// its name, and with repetitions the repetition (`sync.r2`).
    pub fn file_stem(&self) -> String {
        names::experiment_stem(&self.name, self.repetition, self.repetitions)
    }

    /// The experiment did what its spec asks, so its verdicts are evidence.
    pub fn verified(&self) -> bool {
        self.integrity.is_empty()
    }

    /// The reasons it is not verified, in one line (empty when verified).
    pub fn not_verified_reason(&self) -> String {
        self.integrity.join("; ")
    }

    /// Whether an external producer ran (its client settings are its own,
    /// not librdkafka's): from the spec, else from a mode label such as
    /// `kafka-python/sync`.
    pub fn is_external(&self) -> bool {
        self.spec.as_ref().is_some_and(|s| s.external) || self.mode.contains('/')
    }

    /// The experiment's fault with its parameters: from its fault windows
    /// (`hard_shutdown, 10s down`), else from its spec, else the bare kind.
    pub fn fault_label(&self) -> String {
        let mut labels: Vec<String> = self.faults.iter().map(FaultWindow::describe).collect();
        labels.dedup();
        match labels.as_slice() {
            [] => match &self.spec {
                Some(s) if s.fault == self.fault => s.describe_fault(),
                _ => self.fault.clone(),
            },
            [one] => one.clone(),
            many => many.join(" + "),
        }
    }
}

/// Facts about the whole run, written beside the results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    /// Unique name of the run (also its folder name under `results/`).
    pub run_id: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// kafka-chaos version.
    pub harness_version: String,
    /// librdkafka version string.
    pub librdkafka_version: String,
    /// `container` or `process` (or `mock` for librdkafka's mock cluster).
    pub backend: String,
    pub kafka_version: String,
    /// Container image, or Kafka home folder for the process backend.
    pub broker_source: String,
    /// How the broker JVMs compiled (`quick` or `full`, `--broker-jit`);
    /// absent for a cluster the harness does not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_jit: Option<String>,
    /// Profile the specs were run with (`full` or `quick`).
    pub profile: String,
    /// The command line that produced the run.
    pub command: String,
    /// Experiments that did not finish, with the error that stopped them.
    pub failed_experiments: Vec<(String, String)>,
    /// How many experiments ran at once (`--jobs`).
    #[serde(default = "one_usize")]
    pub jobs: usize,
    /// The seed of the run's draws when no spec and no `--seed` fixed one
    /// (drawn from the operating system); `--seed` when given.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Wall time against the time the scenarios ask for (set at the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<RunTiming>,
}

fn one_usize() -> usize {
    1
}

/// A run's wall time against the time its scenarios ask for: the sum of
/// each experiment's own pauses and downtimes (records × pause +
/// downtimes). Below 1 only with parallel jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunTiming {
    /// From the start of the run until its last report was written.
    pub wall_s: f64,
    /// The experiments' own pauses and downtimes, summed over those that ran.
    pub asked_s: f64,
    /// wall_s / asked_s (`None` when nothing was asked).
    pub ratio: Option<f64>,
    pub jobs: usize,
}

impl RunTiming {
    pub fn new(wall_s: f64, asked_s: f64, jobs: usize) -> RunTiming {
        RunTiming {
            wall_s,
            asked_s,
            ratio: (asked_s > 0.0).then(|| wall_s / asked_s),
            jobs,
        }
    }
}

impl LatencyStats {
    /// Percentiles of send-to-report latency over the reported records
    /// (nearest-rank).
    pub fn from_ledger(ledger: &crate::model::ledger::Ledger) -> LatencyStats {
        let mut ms: Vec<f64> = ledger
            .entries
            .iter()
            .filter_map(|e| e.latency())
            .map(|s| s * 1000.0)
            .collect();
        if ms.is_empty() {
            return LatencyStats::default();
        }
        ms.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            let rank = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
            ms[rank - 1]
        };
        LatencyStats {
            count: ms.len(),
            p50_ms: pick(0.50),
            p95_ms: pick(0.95),
            p99_ms: pick(0.99),
            max_ms: ms[ms.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ledger::{Ledger, Outcome};

    #[test]
    fn faults_are_named_with_their_parameters() {
        let d = |kind, down: Option<f64>, until, lat: Option<f64>| {
            describe_fault(kind, down, until, lat)
        };
        assert_eq!(
            d("latency", Some(10.0), false, Some(300.0)),
            "latency 300ms for 10s"
        );
        assert_eq!(d("latency", None, false, Some(300.0)), "latency 300ms");
        assert_eq!(
            d("latency", None, true, Some(50.0)),
            "latency 50ms until the producer ended"
        );
        assert_eq!(
            d("hard_shutdown", Some(10.0), false, None),
            "hard_shutdown, 10s down"
        );
        assert_eq!(
            d("clean_shutdown", None, true, None),
            "clean_shutdown, down until the producer ended"
        );
        assert_eq!(d("network_cut", Some(12.0), false, None), "network_cut 12s");
        assert_eq!(d("pause", Some(5.0), false, None), "pause 5s");
        assert_eq!(d("hard_bounce", Some(0.0), false, None), "hard_bounce");
        assert_eq!(d("none", None, false, None), "none");
        // Results written before the parameters were recorded.
        assert_eq!(d("hard_shutdown", None, false, None), "hard_shutdown");
        assert_eq!(FaultWindow::new("pause", 1.0, 3).describe(), "pause");
    }

    #[test]
    fn old_fault_windows_parse_without_parameters() {
        let w: FaultWindow = serde_json::from_str(
            r#"{"kind":"hard_shutdown","start":1.5,"end":6.0,"after_records":150}"#,
        )
        .unwrap();
        assert_eq!(w.downtime_s, None);
        assert!(!w.until_producer_ends);
        assert_eq!(w.duration(), Some(4.5));
    }

    #[test]
    fn latency_percentiles_use_reported_records_only() {
        let mut l = Ledger::default();
        for i in 0..100u64 {
            l.record_send(i, 0.0);
            if i < 99 {
                l.record_outcome(
                    i,
                    Outcome::Acked {
                        partition: 0,
                        offset: i as i64,
                        at: (i + 1) as f64 / 1000.0,
                    },
                );
            }
        }
        let s = LatencyStats::from_ledger(&l);
        assert_eq!(s.count, 99);
        assert!((s.p50_ms - 50.0).abs() < 1e-6, "{s:?}");
        assert!((s.max_ms - 99.0).abs() < 1e-6, "{s:?}");
        assert_eq!(
            LatencyStats::from_ledger(&Ledger::default()),
            LatencyStats::default()
        );
    }
}
