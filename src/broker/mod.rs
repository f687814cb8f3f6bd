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
//! broker answers, [`cleanup`] removes what killed runs left behind.
//! (Clusters of brokers will land here.)
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

pub mod cleanup;
pub mod container;
pub mod engine;
pub mod probe;
pub mod process;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::infra::proxy::{ChaosProxy, NetworkMode, ProxyError};

/// The Kafka version used unless another is asked for.
pub const DEFAULT_KAFKA_VERSION: &str = "4.3.1";

/// Fixed KRaft cluster id (any valid base64 UUID works for one node).
pub const CLUSTER_ID: &str = "4L6g3nShT-eMCtK--X86sw";

/// Name of the client listener the producer reaches through the proxy.
pub const CHAOS_LISTENER: &str = "CHAOS";

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
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Container => "container",
            Backend::Process => "process",
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
    /// Container id or process id.
    pub id: String,
}

/// Picks the host port: the asked one if it is free, else a free one.
pub fn choose_port(asked: Option<u16>) -> Result<u16, BrokerError> {
    match asked {
        Some(port) => match TcpListener::bind(("127.0.0.1", port)) {
            Ok(_) => Ok(port),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                Err(BrokerError::PortInUse { port })
            }
            Err(e) => Err(BrokerError::io(format!("cannot bind 127.0.0.1:{port}"), e)),
        },
        None => {
            let l = TcpListener::bind(("127.0.0.1", 0))
                .map_err(|e| BrokerError::io("cannot find a free port", e))?;
            let port = l
                .local_addr()
                .map_err(|e| BrokerError::io("cannot find a free port", e))?
                .port();
            Ok(port)
        }
    }
}

/// A free port on 127.0.0.1 that is none of `taken`.
pub(crate) fn free_port_except(taken: &[u16]) -> Result<u16, BrokerError> {
    for _ in 0..20 {
        let port = choose_port(None)?;
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
    Err(BrokerError::io(
        "cannot find a free port",
        std::io::Error::other("the system keeps handing out taken ports"),
    ))
}

/// Starts the chaos proxy on a free loopback port that is none of `taken`,
/// forwarding to the broker's chaos listener at `127.0.0.1:<upstream_port>`.
pub(crate) async fn start_proxy(
    upstream_port: u16,
    taken: &[u16],
) -> Result<ChaosProxy, BrokerError> {
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, upstream_port));
    for _ in 0..20 {
        let proxy = ChaosProxy::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), upstream).await?;
        if proxy.port() != upstream_port && !taken.contains(&proxy.port()) {
            return Ok(proxy);
        }
    }
    Err(BrokerError::io(
        "cannot find a free port for the chaos proxy",
        std::io::Error::other("the system keeps handing out taken ports"),
    ))
}

/// The broker properties both backends run with (single-node KRaft,
/// broker and controller in one process).
///
/// `inter_broker` names the listener the broker uses to reach itself (e.g.
/// for transaction verification): it must be reachable from where the
/// broker runs, which in a container the published host port is not.
pub fn server_properties(
    listeners: &str,
    advertised: &str,
    inter_broker: &str,
    quorum_voters: &str,
    log_dirs: &str,
) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        p.insert(k.to_string(), v.to_string());
    };
    set("node.id", "1");
    set("process.roles", "broker,controller");
    set("listeners", listeners);
    set("advertised.listeners", advertised);
    set("controller.listener.names", "CONTROLLER");
    set("inter.broker.listener.name", inter_broker);
    set(
        "listener.security.protocol.map",
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,CHAOS:PLAINTEXT,INTERNAL:PLAINTEXT",
    );
    set("controller.quorum.voters", quorum_voters);
    set("log.dirs", log_dirs);
    set("num.partitions", "1");
    set("offsets.topic.replication.factor", "1");
    set("transaction.state.log.replication.factor", "1");
    set("transaction.state.log.min.isr", "1");
    set("share.coordinator.state.topic.replication.factor", "1");
    set("share.coordinator.state.topic.min.isr", "1");
    set("group.initial.rebalance.delay.ms", "0");
    set("auto.create.topics.enable", "false");
    p
}

/// The environment variable the official image reads for a property:
/// `KAFKA_` + upper case, `.` → `_`, `_` → `__`, `-` → `___`.
pub fn property_env_name(property: &str) -> String {
    let mut s = String::from("KAFKA_");
    for c in property.chars() {
        match c {
            '.' => s.push('_'),
            '_' => s.push_str("__"),
            '-' => s.push_str("___"),
            c => s.push(c.to_ascii_uppercase()),
        }
    }
    s
}

/// A broker run by the harness.
pub enum Broker {
    Container(Box<container::ContainerBroker>),
    Process(Box<process::ProcessBroker>),
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("info", &self.info())
            .finish()
    }
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Broker::Container($b) => $e,
            Broker::Process($b) => $e,
        }
    };
}

impl Broker {
    /// Starts a broker and waits until it answers a produce probe.
    pub async fn start(cfg: &BrokerConfig) -> Result<Broker, BrokerError> {
        let broker = match cfg.backend {
            Backend::Container => {
                Broker::Container(Box::new(container::ContainerBroker::start(cfg).await?))
            }
            Backend::Process => {
                Broker::Process(Box::new(process::ProcessBroker::start(cfg).await?))
            }
        };
        if let Err(e) = broker.wait_ready(cfg.ready_timeout).await {
            let log_tail = broker.log_tail(30).await;
            broker.remove().await;
            return Err(match e {
                BrokerError::NotReady { after, reason } if !log_tail.is_empty() => {
                    BrokerError::NotReady {
                        after,
                        reason: format!("{reason}; last broker log lines:\n{log_tail}"),
                    }
                }
                e => e,
            });
        }
        Ok(broker)
    }

    /// `127.0.0.1:<port>`, the same for the broker's whole life: the direct
    /// listener, never faulted by [`Broker::set_network`].
    pub fn bootstrap(&self) -> &str {
        dispatch!(self, b => b.bootstrap())
    }

    /// `127.0.0.1:<proxy port>`, the same for the broker's whole life: the
    /// bootstrap address for the producer under test, through the chaos
    /// proxy (and the broker's `CHAOS` listener, which advertises it).
    pub fn client_bootstrap(&self) -> &str {
        dispatch!(self, b => b.client_bootstrap())
    }

    /// Switches the network between the producer and the broker (the chaos
    /// proxy): takes effect at once, survives broker restarts.
    pub fn set_network(&self, mode: NetworkMode) {
        dispatch!(self, b => b.proxy().set_mode(mode))
    }

    /// The network mode in force.
    pub fn network(&self) -> NetworkMode {
        dispatch!(self, b => b.proxy().mode())
    }

    pub fn info(&self) -> BrokerInfo {
        dispatch!(self, b => b.info())
    }

    pub fn state(&self) -> BrokerState {
        dispatch!(self, b => b.state())
    }

    /// Graceful stop: SIGTERM (the tutorial's Ctrl+C), then wait for exit.
    pub async fn stop(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, b => b.stop().await)
    }

    /// Hard kill: SIGKILL, then wait for exit.
    pub async fn kill(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, b => b.kill().await)
    }

    /// The act of a graceful stop: SIGTERM delivered, without waiting.
    /// The broker counts as stopped from here; [`Broker::await_exit`] waits
    /// until it is gone.
    pub async fn signal_stop(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, b => b.signal_stop().await)
    }

    /// The act of a hard kill: SIGKILL delivered, without waiting.
    pub async fn signal_kill(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, b => b.signal_kill().await)
    }

    /// After [`Broker::signal_stop`] or [`Broker::signal_kill`]: waits until
    /// the broker's process or container has exited (60 s after SIGTERM,
    /// then SIGKILL; 10 s after SIGKILL). Returns whether it exited.
    pub async fn await_exit(&mut self) -> Result<bool, BrokerError> {
        dispatch!(self, b => b.await_exit().await)
    }

    /// Freezes the broker; its connections stay open.
    pub async fn pause(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, b => b.pause().await)
    }

    pub async fn resume(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, b => b.resume().await)
    }

    /// Starts a stopped or killed broker again, with its data and address,
    /// and waits until it is ready.
    pub async fn restart(&mut self, timeout: Duration) -> Result<(), BrokerError> {
        dispatch!(self, b => b.start_again().await)?;
        self.wait_ready(timeout).await
    }

    /// Waits until a produce probe succeeds.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), BrokerError> {
        probe::wait_ready(self.bootstrap(), timeout).await
    }

    /// Creates a topic with one replica and waits until it has leaders.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), BrokerError> {
        probe::create_topic(self.bootstrap(), topic, partitions).await
    }

    /// The last lines of the broker's log.
    pub async fn log_tail(&self, lines: usize) -> String {
        dispatch!(self, b => b.log_tail(lines).await)
    }

    /// Stops the broker and removes everything it left (container, data).
    /// Never fails: problems are logged.
    pub async fn remove(self) {
        dispatch!(self, b => b.remove().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_official_image() {
        assert_eq!(
            property_env_name("advertised.listeners"),
            "KAFKA_ADVERTISED_LISTENERS"
        );
        assert_eq!(
            property_env_name("transaction.state.log.min.isr"),
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"
        );
        assert_eq!(property_env_name("a_b-c.d"), "KAFKA_A__B___C_D");
    }

    #[test]
    fn a_taken_port_is_refused_by_name() {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        match choose_port(Some(port)) {
            Err(BrokerError::PortInUse { port: p }) => assert_eq!(p, port),
            other => panic!("expected PortInUse, got {other:?}"),
        }
        drop(l);
        let free = choose_port(None).unwrap();
        assert!(free > 0);
    }
}
