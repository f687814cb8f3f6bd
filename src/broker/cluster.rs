//! [`Broker`]: the Kafka the harness runs, one KRaft node or a cluster of up
//! to five, with the proxies between nodes and producers ([`Links`]).
//!
//! Nodes start in parallel. Ready means every node is running and an
//! `acks=all` produce to the probe topic (replicated to every node, with
//! `min.insync.replicas` = the node count) is acknowledged: only then are all
//! nodes serving and replicating. Operations act on the whole cluster (the
//! single-broker view: `stop`, `kill`, …) or on chosen nodes (`*_nodes`),
//! which is how faults aim at a target.

use std::collections::BTreeMap;
use std::time::Duration;

use super::external::External;
use super::links::Links;
use super::node::{Node, NodePlan, Runtime};
use super::ports::PortLease;
use super::storage::NodeStorage;
use super::topology::{advertises_controllers, node_ports, Topology, MAX_NODES};
use super::{probe, Backend, BrokerConfig, BrokerError, BrokerInfo, BrokerState};
use crate::infra::proxy::NetworkMode;
use crate::infra::slots::{self, NodeSlots};
use crate::model::powercut::NodePowerCut;
pub use crate::model::result::ReplicaEnd;

/// How many times [`Broker::start`] picks ports before it gives up.
const START_ATTEMPTS: u32 = 3;

/// A running cluster of one or more nodes — or, with `external`, a cluster
/// the harness does not run: then it has no node, link or plan of its own,
/// node operations on any node are refused (its faults come from commands),
/// and node ids, addresses, metadata and readiness are the cluster's.
pub struct Broker {
    pub(super) external: Option<Box<External>>,
    cfg: BrokerConfig,
    topology: Topology,
    /// Index `id - 1`.
    nodes: Vec<Node>,
    plans: Vec<NodePlan>,
    links: Links,
    bootstrap: String,
    client_bootstrap: String,
    kafka_version: String,
    /// Last: dropped after the nodes.
    storage: NodeStorage,
    /// The host ports the nodes listen on, kept from other brokers of
    /// this process until this one is gone (down nodes included); held
    /// only to be dropped with it.
    _ports: PortLease,
    /// This cluster's share of the machine's node slots (over all
    /// kafka-chaos processes), given back after the nodes are gone.
    _slots: NodeSlots,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("info", &self.info())
            .finish()
    }
}

impl Broker {
    /// Starts `cfg.brokers` nodes and waits until the cluster is ready.
    pub async fn start(cfg: &BrokerConfig) -> Result<Broker, BrokerError> {
        if cfg.backend == Backend::External {
            return Self::connect(cfg).await;
        }
        // Other kafka-chaos processes on this machine may run brokers too:
        // wait until the machine has room for these nodes.
        let nodes = cfg.brokers.clamp(1, MAX_NODES);
        let held = slots::acquire(
            &slots::default_dir(),
            nodes,
            slots::machine_slots(cfg.jit.nodes_per_core()),
            slots::PATIENCE,
        )
        .await;
        // A picked port (never the asked `--port`) can still be taken by
        // another program between the pick and the node's bind: pick again.
        let mut attempt = 1;
        let mut broker = loop {
            match Self::start_once(cfg).await {
                Err(BrokerError::PortInUse { port })
                    if attempt < START_ATTEMPTS && Some(port) != cfg.port =>
                {
                    tracing::warn!(
                        port,
                        attempt,
                        "a picked port was taken meanwhile; picking new ports"
                    );
                    attempt += 1;
                }
                r => break r?,
            }
        };
        broker._slots = held;
        Ok(broker)
    }

    /// One try of [`Broker::start`] on a harness-run cluster.
    async fn start_once(cfg: &BrokerConfig) -> Result<Broker, BrokerError> {
        let n = cfg.brokers.clamp(1, MAX_NODES);
        let runtime = Runtime::resolve(cfg).await?;
        let kafka_version = runtime.kafka_version(cfg).to_string();
        // Mounted before the ports are picked (no time for others to take
        // them); an error below drops (unmounts) them.
        let storage = NodeStorage::prepare(cfg, &(1..=n as i32).collect::<Vec<_>>()).await?;
        let mut lease = PortLease::default();
        let ports = node_ports(cfg, n, &mut lease)?;
        let links = Links::start(&ports).await?;
        let data_dirs = storage.data_dirs(cfg);
        let topology = Topology {
            nodes: ports,
            proxies: links.ports(),
            advertise_controllers: n > 1 && advertises_controllers(&kafka_version),
        };
        let plans: Vec<NodePlan> = topology
            .nodes
            .iter()
            .map(|np| NodePlan {
                id: np.id,
                properties: topology.properties(np.id, "", &cfg.properties),
                client_port: np.client,
                ports: np.all(),
                data_dir: data_dirs.get(&np.id).cloned(),
            })
            .collect();
        let started =
            futures::future::join_all(plans.iter().map(|p| Node::start(cfg, &runtime, p))).await;
        let mut nodes = Vec::with_capacity(n);
        let mut first_error = None;
        for r in started {
            match r {
                Ok(node) => nodes.push(node),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            for node in nodes {
                node.remove().await;
            }
            links.shutdown().await;
            storage.remove().await;
            return Err(e);
        }
        let broker = Broker {
            external: None,
            bootstrap: topology.bootstrap(),
            client_bootstrap: topology.client_bootstrap(),
            cfg: cfg.clone(),
            topology,
            nodes,
            plans,
            links,
            kafka_version,
            storage,
            _ports: lease,
            _slots: NodeSlots::default(),
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
        let nodes: Vec<String> = broker.bootstrap.split(',').map(String::from).collect();
        let pinned = super::features::apply(&nodes[0], &nodes, &cfg.features, cfg.ready_timeout);
        if let Err(e) = pinned.await {
            broker.remove().await;
            return Err(e);
        }
        Ok(broker)
    }

    /// Connects to a cluster the harness does not run.
    async fn connect(cfg: &BrokerConfig) -> Result<Broker, BrokerError> {
        let x = External::connect(cfg).await?;
        Ok(Broker {
            cfg: cfg.clone(),
            topology: Topology::default(),
            nodes: Vec::new(),
            plans: Vec::new(),
            links: Links::none(),
            bootstrap: x.bootstrap.clone(),
            client_bootstrap: x.bootstrap.clone(),
            kafka_version: "unknown (external)".into(),
            external: Some(Box::new(x)),
            storage: NodeStorage::default(),
            _ports: PortLease::default(),
            _slots: NodeSlots::default(),
        })
    }

    /// The cluster the harness does not run, if this is one.
    pub fn external(&self) -> Option<&External> {
        self.external.as_deref()
    }

    /// Refuses a node operation on a cluster the harness does not run.
    fn owned(&self, op: &'static str, ids: &[i32]) -> Result<(), BrokerError> {
        match (&self.external, ids.is_empty()) {
            (Some(_), false) => Err(BrokerError::NotOwned {
                op,
                nodes: ids.to_vec(),
            }),
            _ => Ok(()),
        }
    }

    /// How many nodes.
    pub fn brokers(&self) -> usize {
        self.external
            .as_ref()
            .map_or(self.nodes.len(), |x| x.nodes.len())
    }

    /// The node ids (`1..=brokers` on the harness's own cluster).
    pub fn node_ids(&self) -> Vec<i32> {
        self.external
            .as_ref()
            .map_or_else(|| self.topology.ids(), |x| x.ids())
    }

    /// The direct listeners of every node, `127.0.0.1:<port>,…`, the same
    /// for the cluster's whole life, never faulted by the network faults.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The direct listener of one node.
    pub fn node_bootstrap(&self, id: i32) -> Option<String> {
        if let Some(x) = &self.external {
            return x.address(id);
        }
        self.topology
            .nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| format!("127.0.0.1:{}", n.client))
    }

    /// The producer's bootstrap list: every node's producer proxy.
    pub fn client_bootstrap(&self) -> &str {
        &self.client_bootstrap
    }

    /// Switches the network between the producer and every node.
    pub fn set_network(&self, mode: NetworkMode) {
        self.links.set_network(&[], mode)
    }

    /// Switches the network between the producer and the given nodes.
    pub fn set_network_for(&self, nodes: &[i32], mode: NetworkMode) {
        self.links.set_network(nodes, mode)
    }

    /// The network mode between the producer and the cluster (the first
    /// node's that is not `Pass`).
    pub fn network(&self) -> NetworkMode {
        self.links.network_all()
    }

    /// Cuts `nodes` off from the other nodes (producers still reach them).
    pub fn isolate(&self, nodes: &[i32]) {
        self.links.isolate(nodes)
    }

    /// Nodes cut off from all others right now.
    pub fn isolated(&self) -> Vec<i32> {
        self.links.isolated()
    }

    /// Every link between nodes passes again.
    pub fn heal_links(&self) {
        self.links.heal_links()
    }

    pub fn info(&self) -> BrokerInfo {
        let first = self.nodes.first();
        let source = match &self.external {
            Some(x) => format!("external cluster at {}", x.bootstrap),
            None => first.map(Node::source).unwrap_or_default(),
        };
        BrokerInfo {
            backend: self.cfg.backend,
            kafka_version: self.kafka_version.clone(),
            source,
            bootstrap: self.bootstrap.clone(),
            client_bootstrap: self.client_bootstrap.clone(),
            id: match &self.external {
                Some(x) => x.ids().iter().map(i32::to_string).collect::<Vec<_>>(),
                None => self.nodes.iter().map(Node::id_string).collect(),
            }
            .join(","),
            brokers: self.brokers(),
            jit: self.external.is_none().then_some(self.cfg.jit),
        }
    }

    /// The cluster's state: running when every node runs; else paused if
    /// any node is paused, else stopped if any is stopped.
    pub fn state(&self) -> BrokerState {
        let states: Vec<BrokerState> = self.nodes.iter().map(Node::state).collect();
        for s in [
            BrokerState::Removed,
            BrokerState::Paused,
            BrokerState::Stopped,
        ] {
            if states.contains(&s) {
                return s;
            }
        }
        BrokerState::Running
    }

    /// One node's state (`Removed` for an unknown id; a node of a cluster
    /// the harness does not run counts as running: it is not the harness's
    /// to know).
    pub fn node_state(&self, id: i32) -> BrokerState {
        if let Some(x) = &self.external {
            return match x.node(id) {
                Some(_) => BrokerState::Running,
                None => BrokerState::Removed,
            };
        }
        self.node(id)
            .map(Node::state)
            .unwrap_or(BrokerState::Removed)
    }

    fn node(&self, id: i32) -> Option<&Node> {
        usize::try_from(id - 1).ok().and_then(|i| self.nodes.get(i))
    }

    fn chosen(&mut self, ids: &[i32]) -> impl Iterator<Item = &mut Node> {
        let ids = ids.to_vec();
        self.nodes
            .iter_mut()
            .enumerate()
            .filter(move |(i, _)| ids.contains(&(*i as i32 + 1)))
            .map(|(_, n)| n)
    }

    async fn each<'a, F, Fut>(&'a mut self, ids: &[i32], op: F) -> Result<(), BrokerError>
    where
        F: Fn(&'a mut Node) -> Fut,
        Fut: std::future::Future<Output = Result<(), BrokerError>> + 'a,
    {
        let results = futures::future::join_all(self.chosen(ids).map(op)).await;
        results.into_iter().collect()
    }

    /// Those of `ids` that are in one of `states` (a fault on a node that
    /// is already down does nothing to it).
    fn eligible(&self, ids: &[i32], states: &[BrokerState]) -> Vec<i32> {
        ids.iter()
            .copied()
            .filter(|id| states.contains(&self.node_state(*id)))
            .collect()
    }

    /// Graceful stop (SIGTERM, then the exit) of the given running nodes,
    /// in parallel.
    pub async fn stop_nodes(&mut self, ids: &[i32]) -> Result<(), BrokerError> {
        self.owned("stop", ids)?;
        let ids = self.eligible(ids, &[BrokerState::Running]);
        self.each(&ids, |n| n.stop()).await
    }

    /// Hard kill (SIGKILL, then the exit) of the given running or paused
    /// nodes.
    pub async fn kill_nodes(&mut self, ids: &[i32]) -> Result<(), BrokerError> {
        self.owned("kill", ids)?;
        let ids = self.eligible(ids, &[BrokerState::Running, BrokerState::Paused]);
        self.each(&ids, |n| n.kill()).await
    }

    /// SIGTERM delivered to the given running nodes, without waiting for
    /// them to exit ([`Broker::await_exit_nodes`]).
    pub async fn signal_stop_nodes(&mut self, ids: &[i32]) -> Result<(), BrokerError> {
        self.owned("stop", ids)?;
        let ids = self.eligible(ids, &[BrokerState::Running]);
        self.each(&ids, |n| n.signal_stop()).await
    }

    /// SIGKILL delivered to the given running or paused nodes, without
    /// waiting.
    pub async fn signal_kill_nodes(&mut self, ids: &[i32]) -> Result<(), BrokerError> {
        self.owned("kill", ids)?;
        let ids = self.eligible(ids, &[BrokerState::Running, BrokerState::Paused]);
        self.each(&ids, |n| n.signal_kill()).await
    }

    /// Waits until the given signalled nodes have exited. Returns whether
    /// all did.
    pub async fn await_exit_nodes(&mut self, ids: &[i32]) -> Result<bool, BrokerError> {
        let results = futures::future::join_all(self.chosen(ids).map(|n| n.await_exit())).await;
        let mut all = true;
        for r in results {
            all &= r?;
        }
        Ok(all)
    }

    /// Freezes the given running nodes.
    pub async fn pause_nodes(&mut self, ids: &[i32]) -> Result<(), BrokerError> {
        self.owned("pause", ids)?;
        let ids = self.eligible(ids, &[BrokerState::Running]);
        self.each(&ids, |n| n.pause()).await
    }

    /// Unfreezes the given paused nodes.
    pub async fn resume_nodes(&mut self, ids: &[i32]) -> Result<(), BrokerError> {
        self.owned("resume", ids)?;
        let ids = self.eligible(ids, &[BrokerState::Paused]);
        self.each(&ids, |n| n.resume()).await
    }

    /// Starts the given stopped nodes again, without waiting for them.
    pub async fn start_nodes(&mut self, ids: &[i32]) -> Result<(), BrokerError> {
        self.owned("start", ids)?;
        let ids = self.eligible(ids, &[BrokerState::Stopped]);
        self.each(&ids, |n| n.start_again()).await
    }

    /// Starts the given stopped nodes again, and waits until the whole
    /// cluster is ready.
    pub async fn restart_nodes(
        &mut self,
        ids: &[i32],
        timeout: Duration,
    ) -> Result<(), BrokerError> {
        self.start_nodes(ids).await?;
        self.wait_ready(timeout).await
    }

    /// Graceful stop of every node.
    pub async fn stop(&mut self) -> Result<(), BrokerError> {
        let ids = self.node_ids();
        self.stop_nodes(&ids).await
    }

    /// Hard kill of every node.
    pub async fn kill(&mut self) -> Result<(), BrokerError> {
        let ids = self.node_ids();
        self.kill_nodes(&ids).await
    }

    /// Freezes every node.
    pub async fn pause(&mut self) -> Result<(), BrokerError> {
        let ids = self.node_ids();
        self.pause_nodes(&ids).await
    }

    /// Unfreezes every paused node.
    pub async fn resume(&mut self) -> Result<(), BrokerError> {
        let ids = self.ids_in(BrokerState::Paused);
        self.resume_nodes(&ids).await
    }

    /// Starts every stopped node again and waits until the cluster is ready.
    pub async fn restart(&mut self, timeout: Duration) -> Result<(), BrokerError> {
        let ids = self.ids_in(BrokerState::Stopped);
        self.restart_nodes(&ids, timeout).await
    }

    /// The nodes in `state`.
    pub fn ids_in(&self, state: BrokerState) -> Vec<i32> {
        self.node_ids()
            .into_iter()
            .filter(|id| self.node_state(*id) == state)
            .collect()
    }

    /// Waits until every node runs and an `acks=all` probe replicated to
    /// every node is acknowledged.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), BrokerError> {
        if let Some(x) = &self.external {
            return x.wait_ready(timeout).await;
        }
        let down: Vec<String> = self
            .node_ids()
            .into_iter()
            .filter(|id| self.node_state(*id) != BrokerState::Running)
            .map(|id| format!("node {id} is {}", self.node_state(id)))
            .collect();
        if !down.is_empty() {
            return Err(BrokerError::NotReady {
                after: Duration::ZERO,
                reason: down.join(", "),
            });
        }
        probe::wait_ready(&self.bootstrap, timeout, self.brokers()).await
    }

    /// Creates a topic with `min(3, brokers)` replicas and waits until every
    /// partition has a leader and a full ISR.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), BrokerError> {
        self.create_topic_with(topic, partitions, self.brokers().min(3), &BTreeMap::new())
            .await
    }

    /// Creates a topic with `replicas` replicas and topic `configs`.
    pub async fn create_topic_with(
        &self,
        topic: &str,
        partitions: i32,
        replicas: usize,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), BrokerError> {
        if let Some(x) = &self.external {
            return x.create_topic(topic, partitions, replicas, configs).await;
        }
        probe::create_topic(&self.bootstrap, topic, partitions, replicas, configs).await
    }

    /// At the end of an experiment: deletes its topic from a cluster the
    /// harness does not run, if the run created it (and keeps no topics).
    pub async fn drop_topic(&self, topic: &str) {
        if let Some(x) = &self.external {
            x.drop_topic(topic).await;
        }
    }

    /// The last lines of every node's log (headed by the node id when there
    /// are several).
    pub async fn log_tail(&self, lines: usize) -> String {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let tail = n.log_tail(lines).await;
            if tail.is_empty() {
                continue;
            }
            if self.nodes.len() > 1 {
                out.push(format!("--- node {} ---\n{tail}", i + 1));
            } else {
                out.push(tail);
            }
        }
        out.join("\n")
    }

    /// The plan a node was started with (its properties, ports).
    pub fn plan(&self, id: i32) -> Option<&NodePlan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// Stops every node and removes everything they left (containers,
    /// data), and the proxies. Never fails: problems are logged.
    pub async fn remove(self) {
        if let Some(x) = &self.external {
            x.remove().await;
        }
        futures::future::join_all(self.nodes.into_iter().map(Node::remove)).await;
        self.links.shutdown().await;
        self.storage.remove().await;
    }

    /// Writes everything the nodes wrote so far to the disk, so that a later
    /// power cut loses only what came after. Nothing on disk storage.
    pub fn checkpoint_storage(&self) -> Result<u64, BrokerError> {
        self.storage.checkpoint()
    }

    /// Cuts the power of the given nodes (down: killed and exited) and
    /// mounts their storage afresh ([`NodeStorage::power_cycle`]).
    pub async fn power_cycle_nodes(
        &mut self,
        ids: &[i32],
        torn_write: bool,
        seed: u64,
    ) -> Result<Vec<NodePowerCut>, BrokerError> {
        for id in ids {
            let state = self.node_state(*id);
            state.require("power cycle", &[BrokerState::Stopped])?;
        }
        self.storage.power_cycle(ids, torn_write, seed).await
    }
}
