//! Experiment specs: one TOML file per experiment in `experiments/`.
//!
//! A spec names a producer mode, how many records to send and how fast, when
//! to inject which fault and how long the broker stays down, and the client
//! settings. Unknown keys are refused with the file and key named, and every
//! spec is checked completely before any broker starts.

pub mod catalog;
pub mod cluster;
pub mod commands;
pub mod connection;
pub mod draw;
pub mod external;
pub mod facts;
pub mod faults;
pub mod kinds;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use catalog::{load_dir, select};
pub use draw::{After, Downtime};
pub use faults::FaultStep;
pub use kinds::{FaultKind, Heal, Mode, Profile, Storage, Target};

/// A spec that cannot be used, with the file and the field named.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{file}: {message}")]
    Invalid { file: PathBuf, message: String },
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no experiment named `{name}` in {dir} (known: {known})")]
    UnknownExperiment {
        name: String,
        dir: PathBuf,
        known: String,
    },
    #[error("{dir}: no experiment specs (*.toml) found")]
    Empty { dir: PathBuf },
}

/// Overrides the `quick` profile applies (fewer records, shorter pauses).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickOverrides {
    pub records: Option<u64>,
    #[serde(default, with = "humantime_serde::option")]
    pub pause: Option<Duration>,
    pub fault_after: Option<After>,
    pub downtime: Option<Downtime>,
    #[serde(default, with = "humantime_serde::option")]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub client: BTreeMap<String, toml::Value>,
    /// Replaces the `[[faults]]` sequence.
    pub faults: Option<Vec<faults::RawStep>>,
}

/// A spec as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    description: String,
    mode: Mode,
    records: u64,
    #[serde(default, with = "humantime_serde")]
    pause: Duration,
    #[serde(default = "default_partitions")]
    partitions: i32,
    #[serde(default)]
    payload_bytes: usize,
    /// Fixes the draws of `random` targets and of ranges.
    seed: Option<u64>,
    /// How many times the experiment runs (`--repeat` wins).
    repeat: Option<u32>,
    /// 1 to 5 KRaft nodes.
    brokers: Option<usize>,
    /// Replicas of the experiment's topic (default: min(3, brokers)).
    replication_factor: Option<usize>,
    /// Kafka properties, passed through (broker ones to every node, topic
    /// ones to the experiment's topic).
    #[serde(default)]
    broker: BTreeMap<String, toml::Value>,
    /// Where the nodes keep their logs (`lazyfs` when a fault is
    /// `power_loss`).
    storage: Option<Storage>,
    /// Cluster features pinned by level (`eligible.leader.replicas.version`).
    #[serde(default)]
    features: BTreeMap<String, toml::Value>,
    #[serde(default = "default_fault")]
    fault: FaultKind,
    /// Which broker(s) the fault hits.
    target: Option<Target>,
    fault_after: Option<After>,
    /// How many records after `fault_after` the fault may land and the
    /// experiment still count as verified.
    fault_tolerance: Option<u64>,
    downtime: Option<Downtime>,
    /// fault = "latency": the delay added to each direction.
    #[serde(default, with = "humantime_serde::option")]
    latency: Option<Duration>,
    /// fault = "power_loss": tear the last unsynced write.
    torn_write: Option<bool>,
    /// Sync mode: how long `get()` waits for each record's result.
    #[serde(default, with = "humantime_serde::option")]
    timeout: Option<Duration>,
    /// Transactional mode: records per transaction.
    transaction_size: Option<u64>,
    /// mode = "external": the program to run.
    #[serde(default)]
    external: Option<external::RawExternal>,
    #[serde(default)]
    client: BTreeMap<String, toml::Value>,
    /// A sequence of faults instead of `fault`.
    #[serde(default)]
    faults: Vec<faults::RawStep>,
    /// Shell commands that inject and heal each fault kind on a cluster the
    /// harness does not run (`--backend external`).
    #[serde(default)]
    commands: BTreeMap<String, commands::FaultCommand>,
    #[serde(default)]
    quick: QuickOverrides,
    #[serde(default)]
    expect: BTreeMap<String, toml::Value>,
}

fn default_partitions() -> i32 {
    1
}

fn default_fault() -> FaultKind {
    FaultKind::None
}

/// A checked experiment, ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentSpec {
    /// The file stem.
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub mode: Mode,
    pub records: u64,
    pub pause: Duration,
    pub partitions: i32,
    pub payload_bytes: usize,
    /// The spec's `seed` (`--seed` wins; without either, the run draws one).
    pub seed: Option<u64>,
    /// The spec's `repeat` (`--repeat` wins; default 1).
    pub repeat: Option<u32>,
    /// KRaft nodes of the cluster (1 for a single broker).
    pub brokers: usize,
    /// Replicas of the experiment's topic.
    pub replication_factor: usize,
    /// Broker properties of the spec's `[broker]` table (every node).
    pub broker_properties: BTreeMap<String, String>,
    /// Topic configs of the spec's `[broker]` table (the experiment's topic).
    pub topic_configs: BTreeMap<String, String>,
    /// Where the nodes keep their logs: `lazyfs` (lose-unsynced-writes
    /// mounts) when a fault is `power_loss` or the spec asks for it.
    pub storage: Storage,
    /// Cluster features pinned by level (the spec's `[features]` table).
    pub features: BTreeMap<String, i16>,
    /// Every fault, in order (empty for none). The fields below describe
    /// the first one, as reports and the single-fault form show it.
    pub faults: Vec<FaultStep>,
    pub fault: FaultKind,
    /// The first fault's target.
    pub target: Target,
    /// The fault is injected right after this many records were sent
    /// (the first fault's `after`: a range's low end until a plan fixes it).
    pub fault_after: u64,
    /// How many records after `fault_after` the fault may be in force and
    /// the experiment still count as verified (see [`default_fault_tolerance`]).
    pub fault_tolerance: u64,
    pub heal: Heal,
    /// fault = "latency": the delay added to each direction of the network
    /// between producer and broker (a round trip gains twice this).
    #[serde(with = "humantime_serde::option")]
    pub latency: Option<Duration>,
    /// Sync mode's wait per record.
    pub sync_timeout: Duration,
    /// Transactional mode: records per transaction.
    pub transaction_size: u64,
    /// librdkafka properties: the harness defaults with the spec's on top.
    /// For mode = "external", the external client's own settings.
    pub client: BTreeMap<String, String>,
    /// Expectations (checked by `--check`).
    pub expect: Vec<crate::model::expect::Expectation>,
    /// mode = "external": the program and how to run it.
    pub external: Option<external::ExternalSpec>,
    /// `[commands.<fault>]`: how to inject and heal faults on an external
    /// cluster (with a `--faults FILE`'s on top).
    pub commands: commands::FaultCommands,
}

/// How many records late a fault may land when the spec does not say
/// (`fault_tolerance`): none for the built-in modes, whose producer waits at
/// the trigger point until the fault is in force; for an external producer,
/// which is stopped (SIGSTOP) only once the harness has read the `send` line
/// that reaches the trigger point, max(2, records / 100), for the lines
/// already in the pipe.
pub fn default_fault_tolerance(mode: Mode, records: u64) -> u64 {
    match mode {
        Mode::External => (records / 100).max(2),
        _ => 0,
    }
}

/// The client settings the harness uses unless a spec says otherwise. They
/// decide outcomes, so they are explicit and written into every result.
pub fn default_client_settings() -> BTreeMap<String, String> {
    [
        ("acks", "all"),
        ("enable.idempotence", "false"),
        ("linger.ms", "5"),
        ("message.timeout.ms", "30000"),
        ("request.timeout.ms", "10000"),
        ("retries", "2147483647"),
        ("retry.backoff.ms", "100"),
        ("reconnect.backoff.ms", "100"),
        ("reconnect.backoff.max.ms", "1000"),
        ("socket.timeout.ms", "10000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn value_to_string(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "must be a string, number or boolean, not {}",
            other.type_str()
        )),
    }
}

/// Line and column of a byte offset, 1-based.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}

impl ExperimentSpec {
    /// Parses and checks a spec file.
    pub fn load(path: &Path, profile: Profile) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        Self::parse(&name, path, &text, profile)
    }

    /// Parses and checks a spec's text (`file` is used in messages).
    pub fn parse(name: &str, file: &Path, text: &str, profile: Profile) -> Result<Self, SpecError> {
        let invalid = |message: String| SpecError::Invalid {
            file: file.to_path_buf(),
            message,
        };
        let raw: RawSpec = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let (l, c) = line_col(text, s.start);
                    format!(" (line {l}, column {c})")
                })
                .unwrap_or_default();
            invalid(format!("{}{at}", e.message().trim()))
        })?;
        let mut records = raw.records;
        let mut pause = raw.pause;
        let mut fault_after = raw.fault_after;
        let mut downtime = raw.downtime;
        let mut timeout = raw.timeout;
        let mut client_raw = raw.client.clone();
        if profile == Profile::Quick {
            let q = &raw.quick;
            records = q.records.unwrap_or(records);
            pause = q.pause.unwrap_or(pause);
            fault_after = q.fault_after.or(fault_after);
            downtime = q.downtime.or(downtime);
            timeout = q.timeout.or(timeout);
            client_raw.extend(q.client.clone());
        }

        if records == 0 {
            return Err(invalid("field `records` must be at least 1".into()));
        }
        if raw.repeat == Some(0) {
            return Err(invalid("field `repeat` must be at least 1".into()));
        }
        if raw.partitions < 1 {
            return Err(invalid("field `partitions` must be at least 1".into()));
        }
        let mut broker_raw = BTreeMap::new();
        for (k, v) in &raw.broker {
            let v = value_to_string(v).map_err(|m| invalid(format!("field `broker.{k}` {m}")))?;
            broker_raw.insert(k.clone(), v);
        }
        let cluster =
            cluster::check(raw.brokers, raw.replication_factor, &broker_raw).map_err(invalid)?;
        let features = cluster::check_features(&raw.features).map_err(invalid)?;
        let raw_steps = match (profile, &raw.quick.faults) {
            (Profile::Quick, Some(q)) => q.clone(),
            _ => raw.faults.clone(),
        };
        let steps = if !raw_steps.is_empty() {
            if raw.fault != FaultKind::None
                || raw.target.is_some()
                || fault_after.is_some()
                || downtime.is_some()
                || raw.latency.is_some()
                || raw.torn_write.is_some()
            {
                return Err(invalid(
                    "use either `[[faults]]` or the single-fault fields (`fault`, `target`, `fault_after`, `downtime`, `latency`, `torn_write`), not both".into(),
                ));
            }
            faults::check_steps(&raw_steps, records, cluster.brokers).map_err(invalid)?
        } else if raw.fault == FaultKind::None {
            if fault_after.is_some() || downtime.is_some() || raw.fault_tolerance.is_some() {
                return Err(invalid(
                    "fields `fault_after`, `fault_tolerance` and `downtime` need a `fault` other than \"none\""
                        .into(),
                ));
            }
            if raw.latency.is_some() {
                return Err(invalid(
                    "field `latency` applies to fault = \"latency\" only, not \"none\"".into(),
                ));
            }
            if raw.torn_write.is_some() {
                return Err(invalid(
                    "field `torn_write` applies to fault = \"power_loss\" only, not \"none\""
                        .into(),
                ));
            }
            if raw.target.is_some() {
                return Err(invalid(
                    "field `target` needs a `fault` other than \"none\"".into(),
                ));
            }
            Vec::new()
        } else {
            let step = faults::check_step(
                raw.fault,
                raw.target,
                fault_after,
                downtime,
                raw.latency,
                raw.torn_write,
                records,
                cluster.brokers,
                &faults::FieldNames::top(),
            )
            .map_err(invalid)?;
            if step.heal == Heal::WithNextFault {
                return Err(invalid(
                    "field `downtime` = \"until-next-fault\" needs a `[[faults]]` sequence with a fault after it".into(),
                ));
            }
            vec![step]
        };
        let (fault, target, fault_after, heal, latency) = match steps.first() {
            Some(f) => (f.kind, f.target, f.after, f.heal, f.latency),
            None => (
                FaultKind::None,
                Target::All,
                records,
                Heal::After(Duration::ZERO),
                None,
            ),
        };
        let power_loss = steps.iter().any(|f| f.kind == FaultKind::PowerLoss);
        let storage = match (raw.storage, power_loss) {
            (Some(Storage::Disk), true) => {
                return Err(invalid(
                    "field `storage` = \"disk\" cannot lose unsynced writes: fault = \"power_loss\" needs storage = \"lazyfs\" (the default with it)".into(),
                ))
            }
            (Some(s), _) => s,
            (None, true) => Storage::LazyFs,
            (None, false) => Storage::Disk,
        };
        let sync_timeout = timeout.unwrap_or(Duration::from_secs(10));
        if sync_timeout.is_zero() {
            return Err(invalid("field `timeout` must be more than 0".into()));
        }

        let transaction_size = match (raw.mode, raw.transaction_size) {
            (Mode::Transactional, Some(0)) => {
                return Err(invalid(
                    "field `transaction_size` must be at least 1".into(),
                ))
            }
            (Mode::Transactional, n) => n.unwrap_or(10),
            (_, Some(_)) => {
                return Err(invalid(
                    "field `transaction_size` applies to mode = \"transactional\" only".into(),
                ))
            }
            (_, None) => 0,
        };

        // mode = "external": `[client]` holds the external client's own
        // settings, passed verbatim; librdkafka's do not apply.
        let external = external::ExternalSpec::from_spec(
            raw.mode == Mode::External,
            raw.external.as_ref(),
            &client_raw,
            raw.payload_bytes,
            file,
        )
        .map_err(invalid)?;
        if external.is_some() {
            client_raw.clear();
        }

        let mut client = default_client_settings();
        for (k, v) in &client_raw {
            let v = value_to_string(v).map_err(|m| invalid(format!("field `client.{k}` {m}")))?;
            client.insert(k.clone(), v);
        }
        if matches!(raw.mode, Mode::Idempotent | Mode::Transactional) {
            // Both need idempotence; a spec that turns it off contradicts its mode.
            if client_raw.contains_key("enable.idempotence")
                && client.get("enable.idempotence").map(String::as_str) != Some("true")
            {
                return Err(invalid(format!(
                    "field `client.enable.idempotence` cannot be false with mode = \"{}\"",
                    raw.mode
                )));
            }
            client.insert("enable.idempotence".into(), "true".into());
        }
        // Let librdkafka check every property now, before any broker starts.
        let mut cfg = rdkafka::ClientConfig::new();
        for (k, v) in &client {
            cfg.set(k, v);
        }
        cfg.set("bootstrap.servers", "127.0.0.1:9");
        if raw.mode == Mode::Transactional {
            // Transactional producers have checks of their own (e.g.
            // message.timeout.ms <= transaction.timeout.ms).
            cfg.set("transactional.id", "kafka-chaos-spec-check");
        }
        if let Err(e) = cfg.create::<rdkafka::producer::BaseProducer>() {
            return Err(invalid(format!("invalid client setting in [client]: {e}")));
        }
        if let Some(x) = &external {
            client = x.settings_as_strings();
        }

        let commands = commands::check(&raw.commands).map_err(invalid)?;

        let mut expect = Vec::new();
        for (k, v) in &raw.expect {
            let v = value_to_string(v).map_err(|m| invalid(format!("field `expect.{k}` {m}")))?;
            let e = crate::model::expect::Expectation::parse(k, &v)
                .map_err(|m| invalid(format!("field `expect.{k}`: {m}")))?;
            expect.push(e);
        }

        Ok(ExperimentSpec {
            name: name.to_string(),
            file: file.to_path_buf(),
            description: raw
                .description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            mode: raw.mode,
            records,
            pause,
            partitions: raw.partitions,
            payload_bytes: raw.payload_bytes,
            seed: raw.seed,
            repeat: raw.repeat,
            brokers: cluster.brokers,
            replication_factor: cluster.replication_factor,
            broker_properties: cluster.broker_properties,
            topic_configs: cluster.topic_configs,
            storage,
            features,
            faults: steps,
            fault,
            target,
            fault_after,
            fault_tolerance: raw
                .fault_tolerance
                .unwrap_or_else(|| default_fault_tolerance(raw.mode, records)),
            heal,
            latency,
            sync_timeout,
            transaction_size,
            client,
            expect,
            external,
            commands,
        })
    }

    /// Whether a repetition's plan draws anything (a range, a `random`
    /// target), so that the seed matters.
    pub fn draws_anything(&self) -> bool {
        self.faults.iter().any(FaultStep::is_drawn)
    }

    /// The time the scenario itself asks for, in seconds: records × pause,
    /// plus every downtime (as planned: a range's low end before a plan).
    pub fn asked_seconds(&self) -> f64 {
        let downtimes: f64 = self
            .faults
            .iter()
            .map(|f| match f.heal {
                Heal::After(d) => d.as_secs_f64(),
                _ => 0.0,
            })
            .sum();
        self.records as f64 * self.pause.as_secs_f64() + downtimes
    }

    /// The mode as reports show it: `sync`, or for an external producer its
    /// client and mode, `kafka-python/sync`.
    pub fn mode_label(&self) -> String {
        match &self.external {
            Some(x) => x.label(),
            None => self.mode.to_string(),
        }
    }

    /// `transaction.timeout.ms` as a duration (librdkafka's default, 60 s,
    /// if the spec does not set it).
    pub fn transaction_timeout(&self) -> Duration {
        self.client
            .get("transaction.timeout.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(60))
    }

    /// `message.timeout.ms` as a duration.
    pub fn message_timeout(&self) -> Duration {
        self.client
            .get("message.timeout.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(300))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ExperimentSpec, SpecError> {
        ExperimentSpec::parse("t", Path::new("experiments/t.toml"), text, Profile::Full)
    }

    const GOOD: &str = r#"
description = "tutorial"
mode = "sync"
records = 100
pause = "500ms"
fault = "clean_shutdown"
fault_after = 30
downtime = "20s"
timeout = "10s"
[client]
"message.timeout.ms" = 60000
acks = "1"
[quick]
records = 20
pause = "50ms"
fault_after = 5
downtime = "5s"
"#;

    #[test]
    fn a_good_spec_loads_with_defaults_and_overrides() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.mode, Mode::Sync);
        assert_eq!(s.records, 100);
        assert_eq!(s.pause, Duration::from_millis(500));
        assert_eq!(s.fault, FaultKind::CleanShutdown);
        assert_eq!(s.fault_after, 30);
        assert_eq!(s.heal, Heal::After(Duration::from_secs(20)));
        assert_eq!(s.client["message.timeout.ms"], "60000");
        assert_eq!(s.client["acks"], "1");
        assert_eq!(s.client["linger.ms"], "5");
        assert_eq!(s.message_timeout(), Duration::from_secs(60));
    }

    #[test]
    fn power_loss_runs_on_lazyfs_and_tears_on_request() {
        let pl = GOOD.replace("clean_shutdown", "power_loss");
        let s = parse(&pl).unwrap();
        assert_eq!(s.fault, FaultKind::PowerLoss);
        assert_eq!(s.storage, Storage::LazyFs);
        assert!(!s.faults[0].torn_write);
        let torn = parse(&pl.replace("timeout = \"10s\"", "timeout = \"10s\"\ntorn_write = true"));
        assert!(torn.unwrap().faults[0].torn_write);
        assert_eq!(parse(GOOD).unwrap().storage, Storage::Disk);
        let lazy = parse(&GOOD.replace("mode = \"sync\"", "mode = \"sync\"\nstorage = \"lazyfs\""));
        assert_eq!(lazy.unwrap().storage, Storage::LazyFs);
        let msg = parse(&pl.replace("mode = \"sync\"", "mode = \"sync\"\nstorage = \"disk\""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("needs storage = \"lazyfs\""), "{msg}");
        let msg = parse(&GOOD.replace("timeout = \"10s\"", "timeout = \"10s\"\ntorn_write = true"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`torn_write` applies to fault = \"power_loss\" only"),
            "{msg}"
        );
        let steps = r#"
description = "d"
mode = "async"
records = 10
[[faults]]
fault = "hard_shutdown"
target = "follower"
after = 2
downtime = "until-producer-ends"
[[faults]]
fault = "power_loss"
target = "all"
after = 5
downtime = "5s"
torn_write = true
"#;
        let s = parse(&steps.replace("records = 10", "records = 10\nbrokers = 3")).unwrap();
        assert_eq!(s.storage, Storage::LazyFs);
        assert!(s.faults[1].torn_write && !s.faults[0].torn_write);
        let msg = parse(&steps.replace("after = 2", "after = 2\ntorn_write = false"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`faults[1].torn_write`"), "{msg}");
    }

    #[test]
    fn the_quick_profile_applies_overrides() {
        let s = ExperimentSpec::parse("t", Path::new("t.toml"), GOOD, Profile::Quick).unwrap();
        assert_eq!(s.records, 20);
        assert_eq!(s.pause, Duration::from_millis(50));
        assert_eq!(s.fault_after, 5);
        assert_eq!(s.heal, Heal::After(Duration::from_secs(5)));
    }

    #[test]
    fn unknown_keys_are_named_with_the_file() {
        let msg = parse(&GOOD.replace("records = 100", "records = 100\nrecordz = 3"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("experiments/t.toml:"), "{msg}");
        assert!(msg.contains("recordz"), "{msg}");
        assert!(msg.contains("line 5"), "{msg}");
    }

    #[test]
    fn an_unknown_mode_is_named() {
        let msg = parse(&GOOD.replace("\"sync\"", "\"turbo\""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("turbo"), "{msg}");
        assert!(msg.contains("fire-and-forget"), "{msg}");
    }

    #[test]
    fn fault_after_beyond_records_is_refused() {
        let msg = parse(&GOOD.replace("fault_after = 30", "fault_after = 300"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`fault_after` (300) is larger than `records` (100)"),
            "{msg}"
        );
    }

    #[test]
    fn a_malformed_file_is_refused_with_a_position() {
        let msg = parse("description = \"x\"\nmode = \n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("experiments/t.toml"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn librdkafka_checks_client_settings_up_front() {
        let msg = parse(&GOOD.replace("acks = \"1\"", "\"no.such.property\" = 1"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no.such.property"), "{msg}");
    }

    #[test]
    fn downtime_can_wait_for_the_producer() {
        let s = parse(&GOOD.replace("downtime = \"20s\"", "downtime = \"until-producer-ends\""))
            .unwrap();
        assert_eq!(s.heal, Heal::WhenProducerEnds);
        let msg = parse(&GOOD.replace("downtime = \"20s\"", "downtime = \"soon\""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("invalid downtime `soon`"), "{msg}");
    }

    #[test]
    fn expectations_are_checked_at_load() {
        let s = parse(&format!(
            "{GOOD}\n[expect]\nlost = 0\nsilent_loss = \"> 0\"\n"
        ))
        .unwrap();
        assert_eq!(s.expect.len(), 2);
        let msg = parse(&format!("{GOOD}\n[expect]\nlots = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("experiments/t.toml"), "{msg}");
        assert!(msg.contains("`expect.lots`"), "{msg}");
    }

    #[test]
    fn transactional_settings_are_checked_at_load() {
        let text = r#"
description = "t"
mode = "transactional"
records = 10
[client]
"transaction.timeout.ms" = 15000
"#;
        let msg = parse(text).unwrap_err().to_string();
        assert!(msg.contains("transaction.timeout.ms"), "{msg}");
        assert!(parse(&text.replace("15000", "30000")).is_ok());
    }

    #[test]
    fn a_fault_needs_its_fields() {
        let msg = parse(&GOOD.replace("fault_after = 30\n", ""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`fault_after` is required"), "{msg}");
        let none = GOOD.replace("\"clean_shutdown\"", "\"none\"");
        let msg = parse(&none).unwrap_err().to_string();
        assert!(msg.contains("need a `fault`"), "{msg}");
    }

    #[test]
    fn fault_tolerance_defaults_by_mode_and_needs_a_fault() {
        assert_eq!(parse(GOOD).unwrap().fault_tolerance, 0);
        let s = parse(&GOOD.replace("fault_after = 30", "fault_after = 30\nfault_tolerance = 3"))
            .unwrap();
        assert_eq!(s.fault_tolerance, 3);
        assert_eq!(default_fault_tolerance(Mode::External, 100), 2);
        assert_eq!(default_fault_tolerance(Mode::External, 50_000), 500);
        assert_eq!(default_fault_tolerance(Mode::Async, 50_000), 0);
        let none = GOOD
            .replace("\"clean_shutdown\"", "\"none\"")
            .replace("fault_after = 30\n", "fault_tolerance = 1\n")
            .replace("downtime = \"20s\"\n", "");
        let none = none.split("[quick]").next().unwrap_or_default().to_string();
        let msg = parse(&none).unwrap_err().to_string();
        assert!(msg.contains("`fault_tolerance`"), "{msg}");
    }

    #[test]
    fn bounces_restart_at_once() {
        let bounce = GOOD
            .replace("\"clean_shutdown\"", "\"hard_bounce\"")
            .replace("downtime = \"20s\"\n", "");
        let s = parse(&bounce).unwrap();
        assert_eq!(s.fault, FaultKind::HardBounce);
        assert_eq!(s.heal, Heal::After(Duration::ZERO));
        let zero = GOOD
            .replace("\"clean_shutdown\"", "\"clean_bounce\"")
            .replace("downtime = \"20s\"", "downtime = \"0s\"");
        assert_eq!(parse(&zero).unwrap().heal, Heal::After(Duration::ZERO));
        // The quick profile's downtime counts too.
        let msg =
            ExperimentSpec::parse("t", Path::new("experiments/t.toml"), &zero, Profile::Quick)
                .unwrap_err()
                .to_string();
        assert!(msg.starts_with("experiments/t.toml:"), "{msg}");
        assert!(msg.contains("`downtime` must be left out"), "{msg}");
        assert!(msg.contains("clean_shutdown"), "{msg}");
        let msg = parse(&GOOD.replace("\"clean_shutdown\"", "\"clean_bounce\""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`downtime` must be left out"), "{msg}");
    }

    #[test]
    fn latency_is_required_for_the_latency_fault_only() {
        let lat = GOOD.replace("\"clean_shutdown\"", "\"latency\"");
        let msg = parse(&lat).unwrap_err().to_string();
        assert!(msg.starts_with("experiments/t.toml:"), "{msg}");
        assert!(msg.contains("`latency` is required"), "{msg}");
        let s = parse(&lat.replace(
            "downtime = \"20s\"",
            "downtime = \"20s\"\nlatency = \"300ms\"",
        ))
        .unwrap();
        assert_eq!(s.fault, FaultKind::Latency);
        assert_eq!(s.latency, Some(Duration::from_millis(300)));
        let msg = parse(&lat.replace("downtime = \"20s\"", "downtime = \"20s\"\nlatency = \"0s\""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`latency` must be more than 0"), "{msg}");
        let msg =
            parse(&GOOD.replace("downtime = \"20s\"", "downtime = \"20s\"\nlatency = \"1s\""))
                .unwrap_err()
                .to_string();
        assert!(
            msg.contains("`latency` applies to fault = \"latency\" only"),
            "{msg}"
        );
        let cut = parse(&GOOD.replace("\"clean_shutdown\"", "\"network_cut\"")).unwrap();
        assert_eq!(cut.fault, FaultKind::NetworkCut);
        assert_eq!(cut.latency, None);
    }
}
