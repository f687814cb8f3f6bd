//! The named choices of a spec: the producer [`Mode`], the [`FaultKind`],
//! when the broker comes back ([`Heal`]), and the [`Profile`] to run.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The ways of sending, as in the tutorial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Send and never look at the result; end without flushing.
    FireAndForget,
    /// Send, then wait for that record's result (with a timeout) before the next.
    Sync,
    /// Send with a delivery callback that records the outcome; flush at the end.
    Async,
    /// `async` with `enable.idempotence=true`: retries cannot duplicate.
    Idempotent,
    /// Records in transactions of `transaction_size`; a record counts as
    /// acked when its transaction commits, failed when it aborts.
    Transactional,
    /// A program of the spec's own (`[external]`), in any language, that
    /// speaks the line protocol of `docs/external-producers.md`.
    External,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::FireAndForget => "fire-and-forget",
            Mode::Sync => "sync",
            Mode::Async => "async",
            Mode::Idempotent => "idempotent",
            Mode::Transactional => "transactional",
            Mode::External => "external",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fire-and-forget" => Ok(Mode::FireAndForget),
            "sync" => Ok(Mode::Sync),
            "async" => Ok(Mode::Async),
            "idempotent" => Ok(Mode::Idempotent),
            "transactional" => Ok(Mode::Transactional),
            "external" => Ok(Mode::External),
            other => Err(format!(
                "unknown mode `{other}` (expected fire-and-forget, sync, async, idempotent, transactional or external)"
            )),
        }
    }
}

/// What happens to the broker mid-stream. Names follow Kafka's system tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// No fault: the baseline.
    None,
    /// SIGTERM: Kafka's controlled shutdown (the tutorial's Ctrl+C).
    CleanShutdown,
    /// SIGKILL: the broker dies with no chance to flush or say goodbye.
    HardShutdown,
    /// The broker freezes (SIGSTOP / container pause); connections stay open.
    Pause,
    /// SIGTERM, then start again at once (no downtime beyond the restart).
    CleanBounce,
    /// SIGKILL, then start again at once.
    HardBounce,
    /// The network between producer and broker blackholes every packet
    /// (the chaos proxy); the broker keeps running. Healing resets the
    /// connections that lived through the cut.
    NetworkCut,
    /// The network between producer and broker delays every packet by
    /// `latency`, in each direction.
    Latency,
    /// The target is cut off from the other brokers (replication and
    /// controller traffic, both ways) while producers still reach it: the
    /// partition in which an isolated leader keeps acknowledging `acks=1`
    /// writes that the new leader never sees. Needs `brokers` ≥ 2.
    Isolate,
    /// SIGKILL, then a power cut of the node's disk: every write the broker
    /// did not fsync is gone (optionally tearing the last one). Runs the
    /// nodes on lose-unsynced-writes storage ([`Storage::LazyFs`]).
    PowerLoss,
}

impl FaultKind {
    /// Bounces restart the broker at once: they take no downtime.
    pub fn is_bounce(self) -> bool {
        matches!(self, FaultKind::CleanBounce | FaultKind::HardBounce)
    }

    /// Faults on the network between the producer and the brokers: they aim
    /// at every broker unless a target is given.
    pub fn is_producer_network(self) -> bool {
        matches!(self, FaultKind::NetworkCut | FaultKind::Latency)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::None => "none",
            FaultKind::CleanShutdown => "clean_shutdown",
            FaultKind::HardShutdown => "hard_shutdown",
            FaultKind::Pause => "pause",
            FaultKind::CleanBounce => "clean_bounce",
            FaultKind::HardBounce => "hard_bounce",
            FaultKind::NetworkCut => "network_cut",
            FaultKind::Latency => "latency",
            FaultKind::Isolate => "isolate",
            FaultKind::PowerLoss => "power_loss",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the nodes keep their logs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// The host's disk: what a broker wrote survives any fault short of a
    /// real power cut (the page cache outlives the process).
    #[default]
    Disk,
    /// A FUSE filesystem per node that keeps writes in memory until they
    /// are fsynced, so that `power_loss` can discard the rest.
    #[value(name = "lazyfs")]
    LazyFs,
}

impl Storage {
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::Disk => "disk",
            Storage::LazyFs => "lazyfs",
        }
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which broker(s) a fault hits, resolved at the moment of injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The leader of the experiment's partition 0.
    Leader,
    /// A follower of partition 0 (a replica that is not its leader).
    Follower,
    /// Every follower of partition 0.
    Followers,
    /// Every in-sync replica of partition 0, leader included.
    Isr,
    /// The active KRaft controller.
    Controller,
    /// The node with this id (1 to `brokers`).
    Broker(i32),
    /// Every node at once (a correlated failure).
    All,
    /// A node drawn from the spec's `seed`.
    Random,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Leader => f.write_str("leader"),
            Target::Follower => f.write_str("follower"),
            Target::Followers => f.write_str("followers"),
            Target::Isr => f.write_str("isr"),
            Target::Controller => f.write_str("controller"),
            Target::Broker(n) => write!(f, "broker:{n}"),
            Target::All => f.write_str("all"),
            Target::Random => f.write_str("random"),
        }
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "leader" => Ok(Target::Leader),
            "follower" => Ok(Target::Follower),
            "followers" => Ok(Target::Followers),
            "isr" => Ok(Target::Isr),
            "controller" => Ok(Target::Controller),
            "all" => Ok(Target::All),
            "random" => Ok(Target::Random),
            other => other
                .strip_prefix("broker:")
                .and_then(|n| n.parse::<i32>().ok())
                .filter(|n| *n >= 1)
                .map(Target::Broker)
                .ok_or_else(|| {
                    format!(
                        "unknown target `{other}` (expected leader, follower, followers, isr, controller, broker:N, all or random)"
                    )
                }),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// When the broker comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Heal {
    /// After this long.
    After(Duration),
    /// Only once the producer has finished, as in the tutorial where the
    /// broker stayed down.
    WhenProducerEnds,
    /// Right after the next fault of a `[[faults]]` sequence is in force
    /// (e.g. a stale follower restarted as soon as the leader died).
    WithNextFault,
}

impl fmt::Display for Heal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Heal::After(d) => write!(f, "after {}", humantime::format_duration(*d)),
            Heal::WhenProducerEnds => f.write_str("when the producer ends"),
            Heal::WithNextFault => f.write_str("when the next fault is in force"),
        }
    }
}

impl Heal {
    /// Parses `"20s"`, `"until-producer-ends"` or `"until-next-fault"`.
    pub fn parse(s: &str) -> Result<Heal, String> {
        match s {
            "until-producer-ends" => Ok(Heal::WhenProducerEnds),
            "until-next-fault" => Ok(Heal::WithNextFault),
            _ => humantime::parse_duration(s).map(Heal::After).map_err(|e| {
                format!(
                    "invalid downtime `{s}`: {e} (use a duration like \"20s\", a range like \"5s..15s\", or \"until-producer-ends\")"
                )
            }),
        }
    }

    /// As a spec writes it: `"20s"`, `"until-producer-ends"`.
    pub fn spec_text(&self) -> String {
        match self {
            Heal::After(d) => humantime::format_duration(*d).to_string(),
            Heal::WhenProducerEnds => "until-producer-ends".into(),
            Heal::WithNextFault => "until-next-fault".into(),
        }
    }
}

/// Accepts `downtime = "20s"`, `"until-producer-ends"` or `"until-next-fault"`.
impl<'de> Deserialize<'de> for Heal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Heal::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Which variant of each spec to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The spec as written.
    Full,
    /// The spec's `[quick]` overrides applied: for CI.
    Quick,
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Full => "full",
            Profile::Quick => "quick",
        })
    }
}
