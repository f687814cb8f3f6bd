//! Readiness and topic creation, through real Kafka requests.
//!
//! "Ready" means a produce with `acks=all` to the harness's probe topic was
//! acknowledged: the broker is up, the controller has elected leaders, and
//! the log accepts writes. A log line or an open port is not enough.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;

use super::BrokerError;

/// Topic the readiness probe writes to.
pub const PROBE_TOPIC: &str = "__kafka_chaos_probe";

pub(crate) fn base_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .set("socket.timeout.ms", "5000")
        .set("log_level", "3");
    crate::spec::connection::apply(&mut c, bootstrap);
    c
}

pub(crate) fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, BrokerError> {
    base_config(bootstrap)
        .create()
        .map_err(|e| BrokerError::Admin(format!("cannot create admin client: {e}")))
}

/// Creates `topic` with `replicas` replicas and `configs` unless it exists
/// (then, unless `may_exist`, it is an error: a topic the harness did not
/// create is never written to or deleted). Returns an error message.
async fn ensure_topic(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    replicas: usize,
    configs: &BTreeMap<String, String>,
    timeout: Duration,
    may_exist: bool,
) -> Result<(), String> {
    let opts = AdminOptions::new()
        .operation_timeout(Some(Timeout::After(timeout)))
        .request_timeout(Some(Timeout::After(timeout)));
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replicas as i32));
    for (k, v) in configs {
        new = new.set(k, v);
    }
    let results = admin
        .create_topics([&new], &opts)
        .await
        .map_err(|e| e.to_string())?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) if may_exist => {}
            Err((t, RDKafkaErrorCode::TopicAlreadyExists)) => {
                return Err(format!(
                    "topic {t} already exists: kafka-chaos writes only to topics it creates, and never deletes one it did not"
                ))
            }
            Err((t, code)) => return Err(format!("creating topic {t}: {code}")),
        }
    }
    Ok(())
}

/// What a readiness probe writes to and waits for.
#[derive(Debug, Clone)]
pub struct Probe {
    pub topic: String,
    /// Replicas of the probe topic (and its `min.insync.replicas`).
    pub replicas: usize,
    /// Ready only when the metadata lists at least this many brokers (a
    /// cluster the harness does not run: every broker it had is back).
    pub min_brokers: Option<usize>,
}

async fn probe_once(
    admin: &AdminClient<DefaultClientContext>,
    producer: &FutureProducer,
    probe: &Probe,
) -> Result<(), String> {
    let replicas = probe.replicas;
    // With min.insync.replicas = replicas, an acks=all probe is only
    // acknowledged when every node holds it: a topic created while a node
    // was still starting would otherwise accept it on fewer replicas.
    let configs = BTreeMap::from([("min.insync.replicas".to_string(), replicas.to_string())]);
    ensure_topic(
        admin,
        &probe.topic,
        1,
        replicas,
        &configs,
        Duration::from_secs(5),
        true,
    )
    .await?;
    if let Some(want) = probe.min_brokers {
        let client = producer.clone();
        let listed = tokio::task::spawn_blocking(move || {
            client
                .client()
                .fetch_metadata(None, Duration::from_secs(5))
                .map(|md| md.brokers().len())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("metadata: {e}"))?;
        if listed < want {
            return Err(format!(
                "the metadata lists {listed} of the cluster's {want} brokers"
            ));
        }
    }
    let payload = b"probe";
    producer
        .send(
            FutureRecord::<(), _>::to(probe.topic.as_str()).payload(&payload[..]),
            Timeout::After(Duration::from_secs(5)),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| format!("probe produce failed: {e}"))
}

/// Waits until a produce probe replicated to `replicas` nodes is
/// acknowledged, or `timeout` passes.
pub async fn wait_ready(
    bootstrap: &str,
    timeout: Duration,
    replicas: usize,
) -> Result<(), BrokerError> {
    let probe = Probe {
        topic: PROBE_TOPIC.to_string(),
        replicas,
        min_brokers: None,
    };
    wait_ready_with(bootstrap, timeout, &probe).await
}

/// Waits until `probe` succeeds, or `timeout` passes.
pub async fn wait_ready_with(
    bootstrap: &str,
    timeout: Duration,
    probe: &Probe,
) -> Result<(), BrokerError> {
    let started = Instant::now();
    let admin = admin(bootstrap)?;
    let producer: FutureProducer = base_config(bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "5000")
        .set("request.timeout.ms", "5000")
        .create()
        .map_err(|e| BrokerError::Admin(format!("cannot create probe producer: {e}")))?;
    let mut last = String::from("no answer yet");
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(BrokerError::NotReady {
                after: timeout,
                reason: last,
            });
        }
        match tokio::time::timeout(left, probe_once(&admin, &producer, probe)).await {
            Ok(Ok(())) => {
                tracing::debug!(
                    bootstrap,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "broker ready"
                );
                return Ok(());
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = "probe timed out".into(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates a topic and waits until every partition has a leader and a full
/// ISR.
pub async fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replicas: usize,
    configs: &BTreeMap<String, String>,
) -> Result<(), BrokerError> {
    create_topic_checked(bootstrap, topic, partitions, replicas, configs, true).await
}

/// [`create_topic`], but a topic that exists already is an error (on a
/// cluster the harness does not run, `may_exist` is false).
pub async fn create_topic_checked(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replicas: usize,
    configs: &BTreeMap<String, String>,
    may_exist: bool,
) -> Result<(), BrokerError> {
    let admin = admin(bootstrap)?;
    ensure_topic(
        &admin,
        topic,
        partitions,
        replicas,
        configs,
        Duration::from_secs(30),
        may_exist,
    )
    .await
    .map_err(BrokerError::Admin)?;
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        wait_for_leaders(&bootstrap, &topic, Duration::from_secs(30))
    })
    .await
    .map_err(|e| BrokerError::Admin(format!("metadata task failed: {e}")))?
}

fn wait_for_leaders(bootstrap: &str, topic: &str, timeout: Duration) -> Result<(), BrokerError> {
    let consumer: BaseConsumer = base_config(bootstrap)
        .create()
        .map_err(|e| BrokerError::Admin(format!("cannot create metadata client: {e}")))?;
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < timeout {
        match consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            Ok(md) => {
                if let Some(t) = md.topics().iter().find(|t| t.name() == topic) {
                    if t.error().is_none()
                        && !t.partitions().is_empty()
                        && t.partitions()
                            .iter()
                            .all(|p| p.leader() >= 0 && p.isr().len() == p.replicas().len())
                    {
                        return Ok(());
                    }
                    last = format!("topic {topic} has no leader or a short ISR yet");
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(BrokerError::Admin(format!(
        "topic {topic} not ready after {timeout:?}: {last}"
    )))
}
