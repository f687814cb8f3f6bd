//! Stage 2: a real Apache Kafka broker, started, faulted and cleaned up by
//! the harness.
//!
//! Two backends behind one type, [`Broker`]:
//! - [`container`]: a container through testcontainers (the default), with
//!   the official `apache/kafka` image or the image `make setup` builds
//!   offline in the same shape;
//! - [`process`]: a KRaft broker as a child JVM, from a Kafka distribution
//!   (`--kafka-home`) or the jars `make setup` resolved from Maven Central.
//!
//! Both publish the broker on `127.0.0.1:<port>` with a port that stays the
//! same across restarts, and advertise exactly that address.
//!
//! Both also give the broker a second client listener, `CHAOS`, for the
//! producer under test. It advertises the address of a [`ChaosProxy`] that
//! lives in the harness (across broker restarts) and forwards to that
//! listener, so network faults ([`Broker::set_network`]) reach the producer
//! only: the harness's own clients (probes, topic creation, read-back) use
//! the direct `PLAINTEXT` listener ([`Broker::bootstrap`]) and see the
//! broker, not the fault. The producer bootstraps from
//! [`Broker::client_bootstrap`]. The proxy itself is a Kafka-agnostic
//! instrument, [`crate::infra::proxy`].
//!
//! [`engine`] finds or starts a container engine, [`probe`] tells when the
//! broker answers, [`cleanup`] removes what killed runs left behind,
//! [`storage`] puts the nodes' logs on mounts that lose unsynced writes
//! (for `power_loss`) and cuts their power, [`features`] pins cluster
//! features. [`cluster`] makes one to five nodes one [`Broker`];
//! [`external`] is a cluster the harness does not run (`--backend
//! external`), behind the same type with no node of its own.
//!
//! [`Broker`]: crate::broker::Broker
//! [`container`]: crate::broker::container
//! [`process`]: crate::broker::process
//! [`ChaosProxy`]: crate::infra::proxy::ChaosProxy
//! [`Broker::set_network`]: crate::broker::Broker::set_network
//! [`Broker::bootstrap`]: crate::broker::Broker::bootstrap
//! [`Broker::client_bootstrap`]: crate::broker::Broker::client_bootstrap
//! [`engine`]: crate::broker::engine
//! [`probe`]: crate::broker::probe
//! [`cleanup`]: crate::broker::cleanup
//! [`storage`]: crate::broker::storage

pub mod cleanup;
pub mod cluster;
pub mod container;
pub mod engine;
pub mod external;
pub mod features;
pub mod in_sync;
pub mod links;
pub mod metadata;
pub mod node;
pub mod ports;
pub mod probe;
pub mod process;
pub mod storage;
pub mod topology;
pub mod wire;

pub use cluster::{Broker, ReplicaEnd};
pub use ports::ensure_free;
pub use topology::{property_env_name, CHAOS_LISTENER, MAX_NODES};

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::infra::lazyfs::LazyFsError;
use crate::infra::proxy::ProxyError;
pub use crate::spec::Storage;

/// The Kafka version used unless another is asked for.
pub const DEFAULT_KAFKA_VERSION: &str = "4.3.1";

/// Fixed KRaft cluster id (any valid base64 UUID works for one node).
pub const CLUSTER_ID: &str = "4L6g3nShT-eMCtK--X86sw";

/// Label every container carries, with the run it belongs to.
pub const LABEL_RUN: &str = "kafka-chaos.run";
/// Label with the pid of the harness process that owns the container.
pub const LABEL_PID: &str = "kafka-chaos.pid";

/// Which way of running Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// A container through testcontainers (Docker, or podman's Docker API).
    Container,
    /// A local JVM process from a Kafka distribution or the set-up's jars.
    Process,
    /// A cluster the harness does not run (`--bootstrap`): nothing is
    /// started, faults come from commands.
    External,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Container => "container",
            Backend::Process => "process",
            Backend::External => "external",
        })
    }
}

/// How the broker JVMs compile Java code: what a start and a recovery cost
/// in CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Jit {
    /// The client compiler only (`-XX:TieredStopAtLevel=1`): a broker
    /// that lives for minutes never earns back the optimizing compiler's
    /// CPU. Measured here (process backend, one node): ready in 3.2 s on
    /// 2.9 CPU-seconds instead of 4.0 s on 4.8; a restart after SIGKILL
    /// takes 3.3 CPU-seconds instead of 5.6 (BENCHMARKS.md, "Broker starts").
    #[default]
    Quick,
    /// The JVM's default (tiered up to the optimizing compiler), as Kafka
    /// runs in production: for throughput measurements (`bench`).
    Full,
}

impl Jit {
    /// Broker nodes per core that start or recover together in time: a
    /// node slot is a CPU budget. On the JVM's default compilers a start
    /// takes 4.8 CPU-seconds, on the client compiler 2.9 (BENCHMARKS.md,
    /// "Broker starts"). Four quick nodes per core: on 2 cores a 5-node
    /// cluster then runs beside a 3-node one, and the quick matrix with 3
    /// jobs used 55 % of the cores with every check passed (runs
    /// `20261130-211519-13836`, `20261130-212331-2243`; three per core
    /// left the 3-node clusters waiting behind the 5-node ones).
    pub fn nodes_per_core(self) -> usize {
        match self {
            Jit::Quick => 4,
            Jit::Full => 2,
        }
    }

    /// The JVM options it adds.
    pub fn jvm_options(self) -> &'static [&'static str] {
        match self {
            Jit::Quick => &["-XX:TieredStopAtLevel=1"],
            Jit::Full => &[],
        }
    }
}

impl fmt::Display for Jit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Jit::Quick => "quick",
            Jit::Full => "full",
        })
    }
}

/// Errors of the broker layer. Each names the problem in one line.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("container engine unavailable: {reason}")]
    Engine { reason: String },
    #[error("broker image {image} is missing: {reason} (run `make setup` to build it offline, or pass --image)")]
    ImageMissing { image: String, reason: String },
    #[error("Kafka home {path}: {reason}")]
    KafkaHome { path: PathBuf, reason: String },
    #[error("port {port} on 127.0.0.1 is already in use")]
    PortInUse { port: u16 },
    #[error("broker did not become ready within {after:?}: {reason}")]
    NotReady { after: Duration, reason: String },
    #[error("broker process exited unexpectedly ({status}); last log lines:\n{log_tail}")]
    Exited { status: String, log_tail: String },
    #[error("container engine error during {op}: {reason}")]
    Container { op: &'static str, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Kafka admin error: {0}")]
    Admin(String),
    #[error("cannot {op}: the broker is {state}")]
    InvalidState {
        op: &'static str,
        state: BrokerState,
    },
    #[error("chaos proxy: {0}")]
    Proxy(#[from] ProxyError),
    #[error("cannot {op} node(s) {nodes:?}: the external cluster's brokers are not the harness's to {op} (a fault on them needs a command, `[commands.<fault>]`)")]
    NotOwned { op: &'static str, nodes: Vec<i32> },
    #[error("power-loss storage: {0}")]
    Storage(#[from] LazyFsError),
}

impl BrokerError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BrokerError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Where the broker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerState {
    Running,
    Paused,
    Stopped,
    Removed,
}

impl BrokerState {
    /// `Ok` if the broker is in one of `states`, else an error naming `op`.
    pub fn require(self, op: &'static str, states: &[BrokerState]) -> Result<(), BrokerError> {
        if states.contains(&self) {
            Ok(())
        } else {
            Err(BrokerError::InvalidState { op, state: self })
        }
    }
}

impl fmt::Display for BrokerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerState::Running => "running",
            BrokerState::Paused => "paused",
            BrokerState::Stopped => "stopped",
            BrokerState::Removed => "removed",
        })
    }
}

/// How to start a broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub backend: Backend,
    pub kafka_version: String,
    /// Container image; `None` picks one (see [`container::resolve_image`]).
    pub image: Option<String>,
    /// Kafka distribution folder for the process backend; `None` uses the
    /// set-up's jars.
    pub kafka_home: Option<PathBuf>,
    /// Host port for the bootstrap address; `None` picks a free one.
    pub port: Option<u16>,
    /// Labels the broker with the run it belongs to.
    pub run_label: String,
    /// How long a start or restart may take before it is an error.
    pub ready_timeout: Duration,
    /// JVM heap, e.g. `-Xmx512m -Xms512m`.
    pub heap_opts: String,
    /// How the broker JVMs compile.
    pub jit: Jit,
    /// How many KRaft nodes (1 to 5).
    pub brokers: usize,
    /// Broker properties on top of the harness's (a spec's `[broker]` table).
    pub properties: BTreeMap<String, String>,
    /// Host folders for nodes' logs, by node id; other nodes keep their
    /// data where the backend does (or on the `storage` below).
    pub data_dirs: BTreeMap<i32, PathBuf>,
    /// `Backend::External`: where the cluster is and how to reach it.
    pub external: Option<external::ExternalConfig>,
    /// Where the nodes keep their logs: the backend's folder on disk, or a
    /// lose-unsynced-writes mount per node that the cluster owns (see
    /// [`storage`]).
    pub storage: Storage,
    /// Cluster features (KIP-584) set once the cluster is ready, e.g.
    /// `eligible.leader.replicas.version` = 0 (see [`features`]).
    pub features: BTreeMap<String, i16>,
}

impl BrokerConfig {
    pub fn new(backend: Backend, run_label: impl Into<String>) -> Self {
        BrokerConfig {
            backend,
            kafka_version: DEFAULT_KAFKA_VERSION.to_string(),
            image: None,
            kafka_home: None,
            port: None,
            run_label: run_label.into(),
            ready_timeout: Duration::from_secs(120),
            heap_opts: "-Xmx512m -Xms512m".into(),
            jit: Jit::default(),
            brokers: 1,
            properties: BTreeMap::new(),
            data_dirs: BTreeMap::new(),
            external: None,
            storage: Storage::Disk,
            features: BTreeMap::new(),
        }
    }
}

/// Facts about a running broker, for logs and metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub backend: Backend,
    pub kafka_version: String,
    /// Image name (container) or Kafka home (process).
    pub source: String,
    pub bootstrap: String,
    /// What the producer under test bootstraps from: the chaos proxy.
    #[serde(default)]
    pub client_bootstrap: String,
    /// Container id or process id (of every node, comma-separated).
    pub id: String,
    /// How many nodes.
    #[serde(default = "one")]
    pub brokers: usize,
    /// How the broker JVMs compiled (`None`: a cluster the harness does not
    /// run, or a run from before this was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jit: Option<Jit>,
}

fn one() -> usize {
    1
}
