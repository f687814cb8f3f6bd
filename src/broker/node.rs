//! One KRaft node of a cluster, on either backend, behind one type.

use super::container::{ContainerImage, ContainerNode};
use super::process::{KafkaHome, ProcessNode};
pub use super::topology::NodePlan;
use super::{BrokerConfig, BrokerError, BrokerState};

/// How a backend runs nodes, resolved once per cluster.
#[derive(Clone)]
pub enum Runtime {
    Container(ContainerImage),
    Process(KafkaHome),
}

impl Runtime {
    pub async fn resolve(cfg: &BrokerConfig) -> Result<Runtime, BrokerError> {
        Ok(match cfg.backend {
            super::Backend::Container => Runtime::Container(ContainerImage::resolve(cfg).await?),
            super::Backend::Process => Runtime::Process(KafkaHome::resolve(cfg)?),
            super::Backend::External => {
                return Err(BrokerError::Admin(
                    "the external backend runs no node of its own".into(),
                ))
            }
        })
    }

    /// The Kafka version the nodes will run.
    pub fn kafka_version<'a>(&'a self, cfg: &'a BrokerConfig) -> &'a str {
        match self {
            Runtime::Container(_) => &cfg.kafka_version,
            Runtime::Process(k) => &k.version,
        }
    }
}

/// One node.
pub enum Node {
    Container(Box<ContainerNode>),
    Process(Box<ProcessNode>),
}

macro_rules! dispatch {
    ($self:ident, $n:ident => $e:expr) => {
        match $self {
            Node::Container($n) => $e,
            Node::Process($n) => $e,
        }
    };
}

impl Node {
    /// Starts the node (without waiting for it to be ready).
    pub async fn start(
        cfg: &BrokerConfig,
        runtime: &Runtime,
        plan: &NodePlan,
    ) -> Result<Node, BrokerError> {
        Ok(match runtime {
            Runtime::Container(image) => {
                Node::Container(Box::new(ContainerNode::start(cfg, image, plan).await?))
            }
            Runtime::Process(home) => {
                Node::Process(Box::new(ProcessNode::start(cfg, home, plan).await?))
            }
        })
    }

    /// Image (container) or Kafka home (process).
    pub fn source(&self) -> String {
        dispatch!(self, n => n.source())
    }

    pub fn version(&self) -> &str {
        dispatch!(self, n => n.version())
    }

    /// Container id or process id.
    pub fn id_string(&self) -> String {
        dispatch!(self, n => n.id_string())
    }

    pub fn state(&self) -> BrokerState {
        dispatch!(self, n => n.state())
    }

    /// Graceful stop: SIGTERM, then wait for the exit.
    pub async fn stop(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, n => n.stop().await)
    }

    /// Hard kill: SIGKILL.
    pub async fn kill(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, n => n.kill().await)
    }

    /// The act of a graceful stop: SIGTERM delivered, without waiting. The
    /// node counts as stopped from here; [`Node::await_exit`] waits.
    pub async fn signal_stop(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, n => n.signal_stop().await)
    }

    /// The act of a hard kill: SIGKILL delivered, without waiting.
    pub async fn signal_kill(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, n => n.signal_kill().await)
    }

    /// After a signal: waits until the node has exited (60 s after SIGTERM,
    /// then SIGKILL; 10 s after SIGKILL). Returns whether it exited.
    pub async fn await_exit(&mut self) -> Result<bool, BrokerError> {
        dispatch!(self, n => n.await_exit().await)
    }

    /// Freezes the node; its connections stay open.
    pub async fn pause(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, n => n.pause().await)
    }

    pub async fn resume(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, n => n.resume().await)
    }

    /// Starts a stopped node again with its data and addresses (without
    /// waiting for readiness).
    pub async fn start_again(&mut self) -> Result<(), BrokerError> {
        dispatch!(self, n => n.start_again().await)
    }

    pub async fn log_tail(&self, lines: usize) -> String {
        dispatch!(self, n => n.log_tail(lines).await)
    }

    /// Stops the node and removes what it left (never fails).
    pub async fn remove(self) {
        match self {
            Node::Container(n) => n.remove().await,
            Node::Process(n) => n.remove().await,
        }
    }
}
