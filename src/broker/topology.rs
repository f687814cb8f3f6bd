//! Where every node of a cluster listens, what it advertises, and which way
//! its traffic to the other nodes runs.
//!
//! Every node is a combined KRaft node (`process.roles=broker,controller`)
//! on `127.0.0.1`, with a static quorum of all nodes. Its listeners:
//!
//! - `PLAINTEXT` — the direct client listener, advertised as itself: the
//!   harness's probes, topic creation and read-back use it, so they see the
//!   broker, never a fault;
//! - `CHAOS` — the client listener of the producer under test, advertised as
//!   the address of the node's producer proxy (network faults);
//! - `FROM_k` — one broker listener per node `k` of the cluster: node `k`'s
//!   replica fetchers and other broker-to-broker traffic to this node use it
//!   (node `k` sets `inter.broker.listener.name=FROM_k`), advertised as the
//!   address of the link proxy `k → this node`;
//! - `CTRL_FROM_k` — one controller listener per node `k`: node `k`'s raft and
//!   broker-to-controller traffic to this node; node `k`'s
//!   `controller.quorum.voters` names the link proxy `k → this node`.
//!
//! So every byte between two different nodes crosses a link proxy owned by
//! the harness ([`super::links`]), one per ordered pair and kind of traffic:
//! cutting the links of one node isolates it from the others while
//! producers still reach it (the fault `isolate`). A node's traffic to itself
//! goes direct. Measured on Kafka 4.3.1: per-node `inter.broker.listener.name`
//! and per-node voter addresses are accepted, and the controller listeners
//! must be advertised at the proxy addresses too, or a raft leader hands its
//! direct address to followers (KIP-853 leader endpoints) and the isolation
//! leaks.
//!
//! Pure: ports in, properties out; unit-tested without Kafka.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::ports::PortLease;
use super::{BrokerConfig, BrokerError};

/// Name of the client listener the producer reaches through its proxy.
pub const CHAOS_LISTENER: &str = "CHAOS";
/// Name of the direct client listener.
pub const CLIENT_LISTENER: &str = "PLAINTEXT";

/// The most nodes a cluster may have.
pub use crate::spec::cluster::MAX_NODES;

/// Broker listener of a node for traffic from node `from`.
pub fn broker_listener(from: i32) -> String {
    format!("FROM_{from}")
}

/// Controller listener of a node for traffic from node `from`.
pub fn controller_listener(from: i32) -> String {
    format!("CTRL_FROM_{from}")
}

/// What a backend needs to start one node.
#[derive(Debug, Clone)]
pub struct NodePlan {
    pub id: i32,
    /// Every server property but `log.dirs`, which the backend sets.
    pub properties: BTreeMap<String, String>,
    /// The node's direct client port (names its container and pidfile).
    pub client_port: u16,
    /// Every port the node binds: each must be free on (re)start.
    pub ports: Vec<u16>,
    /// A host folder to keep the node's log in (e.g. a mount that loses
    /// unsynced writes); `None`: the backend's own, removed with the node.
    pub data_dir: Option<PathBuf>,
}

impl NodePlan {
    /// The properties with `log.dirs` set to where the backend keeps data.
    pub fn properties(&self, log_dirs: &str) -> BTreeMap<String, String> {
        let mut p = self.properties.clone();
        p.insert("log.dirs".into(), log_dirs.to_string());
        p
    }
}

/// The ports one node listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePorts {
    pub id: i32,
    /// `PLAINTEXT`: direct clients (the harness).
    pub client: u16,
    /// `CHAOS`: the producer, through its proxy.
    pub chaos: u16,
    /// `FROM_k`, for `k` = 1..=n (index `k - 1`).
    pub broker_from: Vec<u16>,
    /// `CTRL_FROM_k`, for `k` = 1..=n (index `k - 1`).
    pub controller_from: Vec<u16>,
}

impl NodePorts {
    /// Every port the node binds.
    pub fn all(&self) -> Vec<u16> {
        let mut v = vec![self.client, self.chaos];
        v.extend(&self.broker_from);
        v.extend(&self.controller_from);
        v
    }
}

/// The ports of the harness's proxies, as they listen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyPorts {
    /// The producer's proxy in front of each node's `CHAOS` listener.
    pub chaos: BTreeMap<i32, u16>,
    /// Link proxy `(from, to)` in front of `to`'s `FROM_from` listener.
    pub broker: BTreeMap<(i32, i32), u16>,
    /// Link proxy `(from, to)` in front of `to`'s `CTRL_FROM_from` listener.
    pub controller: BTreeMap<(i32, i32), u16>,
}

/// Ports of a whole cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub nodes: Vec<NodePorts>,
    pub proxies: ProxyPorts,
    /// Put the controller listeners into `advertised.listeners` (needed from
    /// Kafka 4 on, see the module docs; older versions refuse controller
    /// listeners there on a combined node).
    pub advertise_controllers: bool,
}

/// Whether a Kafka version wants its controller listeners advertised.
pub fn advertises_controllers(kafka_version: &str) -> bool {
    let major: u32 = kafka_version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(4);
    major >= 4
}

impl Topology {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    fn node(&self, id: i32) -> Option<&NodePorts> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The direct bootstrap list: `127.0.0.1:<client>` of every node.
    pub fn bootstrap(&self) -> String {
        join_addrs(self.nodes.iter().map(|n| n.client))
    }

    /// The producer's bootstrap list: every node's producer proxy.
    pub fn client_bootstrap(&self) -> String {
        join_addrs(self.proxies.chaos.values().copied())
    }

    /// Where node `from` reaches node `to`'s broker listener.
    fn broker_addr(&self, from: i32, to: i32) -> Option<u16> {
        if from == to {
            self.node(to)?.broker_from.get(from as usize - 1).copied()
        } else {
            self.proxies.broker.get(&(from, to)).copied()
        }
    }

    /// Where node `from` reaches node `to`'s controller listener.
    fn controller_addr(&self, from: i32, to: i32) -> Option<u16> {
        if from == to {
            self.node(to)?
                .controller_from
                .get(from as usize - 1)
                .copied()
        } else {
            self.proxies.controller.get(&(from, to)).copied()
        }
    }

    /// The server properties of node `id` (log.dirs given by the backend),
    /// with `extra` (a spec's `[broker]` table) on top.
    pub fn properties(
        &self,
        id: i32,
        log_dirs: &str,
        extra: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let n = self.len();
        let mut p = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            p.insert(k.to_string(), v);
        };
        let Some(me) = self.node(id) else {
            return BTreeMap::new();
        };
        let port = |v: Option<u16>| v.unwrap_or(0);
        let mut listeners = vec![
            format!("{CLIENT_LISTENER}://127.0.0.1:{}", me.client),
            format!("{CHAOS_LISTENER}://127.0.0.1:{}", me.chaos),
        ];
        let mut advertised = vec![
            format!("{CLIENT_LISTENER}://127.0.0.1:{}", me.client),
            format!(
                "{CHAOS_LISTENER}://127.0.0.1:{}",
                port(self.proxies.chaos.get(&id).copied())
            ),
        ];
        let mut protocols = vec![
            format!("{CLIENT_LISTENER}:PLAINTEXT"),
            format!("{CHAOS_LISTENER}:PLAINTEXT"),
        ];
        for from in self.ids() {
            let name = broker_listener(from);
            listeners.push(format!(
                "{name}://127.0.0.1:{}",
                port(me.broker_from.get(from as usize - 1).copied())
            ));
            advertised.push(format!(
                "{name}://127.0.0.1:{}",
                port(self.broker_addr(from, id))
            ));
            protocols.push(format!("{name}:PLAINTEXT"));
        }
        // This node's own controller listener comes first: it is the one
        // its broker and raft client use.
        let mut controller_names = vec![controller_listener(id)];
        controller_names.extend(
            self.ids()
                .into_iter()
                .filter(|k| *k != id)
                .map(controller_listener),
        );
        for from in self.ids() {
            let name = controller_listener(from);
            listeners.push(format!(
                "{name}://127.0.0.1:{}",
                port(me.controller_from.get(from as usize - 1).copied())
            ));
            if self.advertise_controllers {
                advertised.push(format!(
                    "{name}://127.0.0.1:{}",
                    port(self.controller_addr(from, id))
                ));
            }
            protocols.push(format!("{name}:PLAINTEXT"));
        }
        let voters: Vec<String> = self
            .ids()
            .into_iter()
            .map(|to| format!("{to}@127.0.0.1:{}", port(self.controller_addr(id, to))))
            .collect();
        let replicas = n.min(3);
        let min_isr = n.min(2);
        set("node.id", id.to_string());
        set("process.roles", "broker,controller".into());
        set("listeners", listeners.join(","));
        set("advertised.listeners", advertised.join(","));
        set("listener.security.protocol.map", protocols.join(","));
        set("controller.listener.names", controller_names.join(","));
        set("inter.broker.listener.name", broker_listener(id));
        set("controller.quorum.voters", voters.join(","));
        set("log.dirs", log_dirs.to_string());
        set("num.partitions", "1".into());
        set("offsets.topic.replication.factor", replicas.to_string());
        set(
            "transaction.state.log.replication.factor",
            replicas.to_string(),
        );
        set("transaction.state.log.min.isr", min_isr.to_string());
        set(
            "share.coordinator.state.topic.replication.factor",
            replicas.to_string(),
        );
        set("share.coordinator.state.topic.min.isr", min_isr.to_string());
        set("group.initial.rebalance.delay.ms", "0".into());
        set("auto.create.topics.enable", "false".into());
        for (k, v) in extra {
            p.insert(k.clone(), v.clone());
        }
        p
    }
}

/// Chooses every port of `n` nodes: node 1's client port is the asked
/// `--port`, the others free ports, all different, held by `lease`.
pub fn node_ports(
    cfg: &BrokerConfig,
    n: usize,
    lease: &mut PortLease,
) -> Result<Vec<NodePorts>, BrokerError> {
    let mut nodes = Vec::with_capacity(n);
    for i in 1..=n as i32 {
        let asked = if i == 1 { cfg.port } else { None };
        let client = lease.take(asked)?;
        let chaos = lease.take(None)?;
        let mut broker_from = Vec::with_capacity(n);
        let mut controller_from = Vec::with_capacity(n);
        for _ in 0..n {
            broker_from.push(lease.take(None)?);
        }
        for _ in 0..n {
            controller_from.push(lease.take(None)?);
        }
        nodes.push(NodePorts {
            id: i,
            client,
            chaos,
            broker_from,
            controller_from,
        });
    }
    Ok(nodes)
}

fn join_addrs(ports: impl Iterator<Item = u16>) -> String {
    ports
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Three nodes; node i's ports are 1000*i + small numbers, proxies 9000+.
    fn three() -> Topology {
        let nodes = (1..=3)
            .map(|i| NodePorts {
                id: i,
                client: 1000 * i as u16,
                chaos: 1000 * i as u16 + 1,
                broker_from: (1..=3).map(|k| 1000 * i as u16 + 10 + k).collect(),
                controller_from: (1..=3).map(|k| 1000 * i as u16 + 20 + k).collect(),
            })
            .collect();
        let mut proxies = ProxyPorts::default();
        for to in 1..=3 {
            proxies.chaos.insert(to, 9000 + to as u16);
            for from in 1..=3 {
                if from != to {
                    proxies
                        .broker
                        .insert((from, to), 9100 + 10 * from as u16 + to as u16);
                    proxies
                        .controller
                        .insert((from, to), 9200 + 10 * from as u16 + to as u16);
                }
            }
        }
        Topology {
            nodes,
            proxies,
            advertise_controllers: true,
        }
    }

    #[test]
    fn every_cross_node_address_is_a_proxy() {
        let t = three();
        let p = t.properties(2, "/data", &BTreeMap::new());
        assert_eq!(p["node.id"], "2");
        assert_eq!(p["inter.broker.listener.name"], "FROM_2");
        assert!(p["controller.listener.names"].starts_with("CTRL_FROM_2,"));
        // Node 2 reaches voters 1 and 3 through proxies (2→1, 2→3), itself directly.
        assert_eq!(
            p["controller.quorum.voters"],
            "1@127.0.0.1:9221,2@127.0.0.1:2022,3@127.0.0.1:9223"
        );
        let adv = &p["advertised.listeners"];
        // Node 1's traffic to node 2 goes through proxy 1→2; node 2's own is direct.
        assert!(adv.contains("FROM_1://127.0.0.1:9112"), "{adv}");
        assert!(adv.contains("FROM_2://127.0.0.1:2012"), "{adv}");
        assert!(adv.contains("CTRL_FROM_3://127.0.0.1:9232"), "{adv}");
        assert!(adv.contains("CHAOS://127.0.0.1:9002"), "{adv}");
        assert!(adv.starts_with("PLAINTEXT://127.0.0.1:2000,"), "{adv}");
        assert!(p["listeners"].contains("CTRL_FROM_1://127.0.0.1:2021"));
        assert_eq!(p["offsets.topic.replication.factor"], "3");
        assert_eq!(p["transaction.state.log.min.isr"], "2");
    }

    #[test]
    fn one_node_needs_no_link_proxies() {
        let t = Topology {
            nodes: vec![NodePorts {
                id: 1,
                client: 100,
                chaos: 101,
                broker_from: vec![102],
                controller_from: vec![103],
            }],
            proxies: ProxyPorts {
                chaos: [(1, 900)].into(),
                ..Default::default()
            },
            advertise_controllers: false,
        };
        let p = t.properties(1, "/d", &[("a.b".to_string(), "c".to_string())].into());
        assert_eq!(p["controller.quorum.voters"], "1@127.0.0.1:103");
        assert_eq!(
            p["advertised.listeners"],
            "PLAINTEXT://127.0.0.1:100,CHAOS://127.0.0.1:900,FROM_1://127.0.0.1:102"
        );
        assert_eq!(p["offsets.topic.replication.factor"], "1");
        assert_eq!(p["transaction.state.log.min.isr"], "1");
        assert_eq!(p["a.b"], "c");
        assert_eq!(t.bootstrap(), "127.0.0.1:100");
        assert_eq!(t.client_bootstrap(), "127.0.0.1:900");
    }

    #[test]
    fn controller_listeners_are_advertised_from_kafka_4() {
        assert!(advertises_controllers("4.3.1"));
        assert!(!advertises_controllers("3.9.1"));
        assert!(!advertises_controllers("3.6.2"));
    }

    #[test]
    fn env_names_follow_the_official_image() {
        assert_eq!(
            property_env_name("transaction.state.log.min.isr"),
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"
        );
        assert_eq!(property_env_name("a_b-c.d"), "KAFKA_A__B___C_D");
    }
}
