//! A Kafka cluster the harness does not run (`--backend external`): staging
//! on Kubernetes, VMs, a managed service — reached at a bootstrap list with
//! the client's security settings ([`crate::spec::connection`]).
//!
//! No broker is started, stopped or removed: the harness has no node to
//! act on (faults come from commands, see [`crate::chaos::command`]). What
//! it does own are topics: every topic it writes to it creates itself,
//! fresh (an existing one is an error), and it deletes exactly those at
//! the end unless told to keep them — never a topic it did not create.
//!
//! Readiness is the same evidence as for its own brokers: an `acks=all`
//! produce to a probe topic of its own is acknowledged, and the metadata
//! lists every broker the cluster had when the run began.
//!
//! Metadata: the wire requests of [`super::wire`] (leader epochs, the
//! active controller, replica log ends) speak plain TCP only; on a TLS or
//! SASL cluster partition state comes from librdkafka's metadata instead —
//! leaders, replicas and ISR, but no epochs (-1) — the `controller` target
//! is refused with that reason, and replica log ends are not recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::util::Timeout;
use tokio::time::Instant;

use super::probe::{self, Probe};
use super::wire::PartitionState;
use super::{BrokerConfig, BrokerError};
use crate::spec::connection;

/// How to reach a cluster the harness does not run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalConfig {
    /// `host:port,…`
    pub bootstrap: String,
    /// Security settings of every client (librdkafka names).
    pub client: BTreeMap<String, String>,
    /// Keep the topics the run created instead of deleting them.
    pub keep_topics: bool,
}

/// One broker as the cluster's metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalNode {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// A connected external cluster.
#[derive(Debug)]
pub struct External {
    pub bootstrap: String,
    /// Whether the wire requests can be spoken (PLAINTEXT).
    pub plaintext: bool,
    /// The brokers listed when the run began, by id.
    pub nodes: Vec<ExternalNode>,
    probe: Probe,
    keep_topics: bool,
    /// Topics this run created (and may delete).
    created: Mutex<BTreeSet<String>>,
}

/// Why the wire requests are not spoken.
pub const NOT_PLAINTEXT: &str = "the harness's own wire requests (leader epochs, the active controller, replica log ends) speak PLAINTEXT only, and this cluster's security.protocol is not PLAINTEXT";

fn metadata(bootstrap: &str, topic: Option<&str>) -> Result<rdkafka::metadata::Metadata, String> {
    let consumer: BaseConsumer = probe::base_config(bootstrap)
        .create()
        .map_err(|e| format!("cannot create a metadata client: {e}"))?;
    consumer
        .fetch_metadata(topic, Duration::from_secs(10))
        .map_err(|e| e.to_string())
}

async fn metadata_async(
    bootstrap: &str,
    topic: Option<&str>,
) -> Result<rdkafka::metadata::Metadata, String> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.map(str::to_string);
    tokio::task::spawn_blocking(move || metadata(&bootstrap, topic.as_deref()))
        .await
        .map_err(|e| e.to_string())?
}

impl External {
    /// Connects: reads the brokers from the metadata, creates the run's
    /// probe topic and waits until the cluster is ready.
    pub async fn connect(cfg: &BrokerConfig) -> Result<External, BrokerError> {
        let Some(x) = cfg.external.as_ref().filter(|x| !x.bootstrap.is_empty()) else {
            return Err(BrokerError::Admin(
                "--backend external needs --bootstrap HOST:PORT[,…]".into(),
            ));
        };
        connection::register(&x.bootstrap, x.client.clone());
        let md = metadata_async(&x.bootstrap, None)
            .await
            .map_err(|e| BrokerError::NotReady {
                after: Duration::from_secs(10),
                reason: format!("cannot read the metadata of {}: {e}", x.bootstrap),
            })?;
        let mut nodes: Vec<ExternalNode> = md
            .brokers()
            .iter()
            .map(|b| ExternalNode {
                id: b.id(),
                host: b.host().to_string(),
                port: u16::try_from(b.port()).unwrap_or(0),
            })
            .collect();
        nodes.sort_by_key(|n| n.id);
        if nodes.is_empty() {
            return Err(BrokerError::NotReady {
                after: Duration::ZERO,
                reason: format!("the metadata of {} lists no broker", x.bootstrap),
            });
        }
        let replicas = nodes.len().min(3);
        let external = External {
            bootstrap: x.bootstrap.clone(),
            plaintext: connection::is_plaintext(&x.client),
            probe: Probe {
                topic: format!("kafka-chaos-{}-probe", cfg.run_label),
                replicas,
                min_brokers: Some(nodes.len()),
            },
            nodes,
            keep_topics: x.keep_topics,
            created: Mutex::new(BTreeSet::new()),
        };
        let configs = BTreeMap::from([("min.insync.replicas".to_string(), replicas.to_string())]);
        external
            .create_topic(&external.probe.topic, 1, replicas, &configs)
            .await?;
        if let Err(e) = external.wait_ready(cfg.ready_timeout).await {
            external.remove().await;
            return Err(e);
        }
        Ok(external)
    }

    pub fn ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    pub fn node(&self, id: i32) -> Option<&ExternalNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// `host:port` of a broker.
    pub fn address(&self, id: i32) -> Option<String> {
        self.node(id).map(|n| format!("{}:{}", n.host, n.port))
    }

    /// Ready: every broker listed at the start is listed again, and an
    /// `acks=all` probe to the run's probe topic is acknowledged.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), BrokerError> {
        probe::wait_ready_with(&self.bootstrap, timeout, &self.probe).await
    }

    /// Creates a fresh topic (an existing one is an error) and remembers it
    /// as this run's.
    pub async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replicas: usize,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), BrokerError> {
        if replicas > self.nodes.len() {
            return Err(BrokerError::Admin(format!(
                "topic {topic}: replication factor {replicas} is more than the cluster's {} broker(s)",
                self.nodes.len()
            )));
        }
        let created = probe::create_topic_checked(
            &self.bootstrap,
            topic,
            partitions,
            replicas,
            configs,
            false,
        )
        .await;
        // Created, even if its leaders were slow: it is ours to delete.
        if !matches!(&created, Err(BrokerError::Admin(m)) if m.contains("already exists")) {
            if let Ok(mut c) = self.created.lock() {
                c.insert(topic.to_string());
            }
        }
        created
    }

    /// Deletes `topic` if this run created it (and topics are not kept).
    pub async fn drop_topic(&self, topic: &str) {
        if self.keep_topics {
            return;
        }
        let ours = self
            .created
            .lock()
            .map(|mut c| c.remove(topic))
            .unwrap_or(false);
        if ours {
            self.delete(&[topic.to_string()]).await;
        }
    }

    async fn delete(&self, topics: &[String]) {
        if topics.is_empty() {
            return;
        }
        let admin = match probe::admin(&self.bootstrap) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("cannot delete topics {topics:?}: {e}");
                return;
            }
        };
        let opts = AdminOptions::new()
            .operation_timeout(Some(Timeout::After(Duration::from_secs(30))))
            .request_timeout(Some(Timeout::After(Duration::from_secs(30))));
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let mut deleted = Vec::new();
        match admin.delete_topics(&names, &opts).await {
            Ok(results) => {
                for r in results {
                    match r {
                        Ok(t) => deleted.push(t),
                        Err((t, code)) => tracing::warn!("cannot delete topic {t}: {code}"),
                    }
                }
            }
            Err(e) => tracing::warn!("cannot delete topics {topics:?}: {e}"),
        }
        self.wait_gone(&deleted, Duration::from_secs(15)).await;
    }

    /// Waits until the metadata lists none of `topics`: a deletion the
    /// controller accepted reaches the brokers a little later, and whoever
    /// lists the topics right after the run should not see them (logged,
    /// never an error, if they are still listed after `timeout`).
    async fn wait_gone(&self, topics: &[String], timeout: Duration) {
        if topics.is_empty() {
            return;
        }
        let deadline = Instant::now() + timeout;
        let mut listed: Vec<String> = topics.to_vec();
        while Instant::now() < deadline {
            if let Ok(md) = metadata_async(&self.bootstrap, None).await {
                listed = md
                    .topics()
                    .iter()
                    .map(|t| t.name().to_string())
                    .filter(|t| topics.contains(t))
                    .collect();
                if listed.is_empty() {
                    tracing::debug!("deleted topics {}", topics.join(", "));
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tracing::warn!(
            "topics still listed {} s after their deletion: {}",
            timeout.as_secs(),
            listed.join(", ")
        );
    }

    /// Every partition of `topic` from librdkafka's metadata: leader,
    /// replicas, ISR — no leader epoch (-1).
    pub async fn partition_state(&self, topic: &str) -> Result<Vec<PartitionState>, BrokerError> {
        let md = metadata_async(&self.bootstrap, Some(topic))
            .await
            .map_err(|e| BrokerError::Admin(format!("partition state: {e}")))?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or_else(|| BrokerError::Admin(format!("no metadata for topic {topic}")))?;
        if let Some(e) = t.error() {
            return Err(BrokerError::Admin(format!(
                "metadata of topic {topic}: {}",
                rdkafka::types::RDKafkaErrorCode::from(e)
            )));
        }
        let mut parts: Vec<PartitionState> = t
            .partitions()
            .iter()
            .map(|p| PartitionState {
                partition: p.id(),
                leader: p.leader(),
                leader_epoch: -1,
                replicas: p.replicas().to_vec(),
                isr: p.isr().to_vec(),
                offline: Vec::new(),
            })
            .collect();
        parts.sort_by_key(|p| p.partition);
        Ok(parts)
    }

    /// Deletes every topic this run created, unless they are kept (never
    /// fails: problems are logged).
    pub async fn remove(&self) {
        let topics: Vec<String> = self
            .created
            .lock()
            .map(|mut c| std::mem::take(&mut *c).into_iter().collect())
            .unwrap_or_default();
        if self.keep_topics {
            if !topics.is_empty() {
                tracing::info!("kept the run's topics: {}", topics.join(", "));
            }
            return;
        }
        self.delete(&topics).await;
    }
}
