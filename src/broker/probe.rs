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
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;

use super::BrokerError;

/// Topic the readiness probe writes to.
pub const PROBE_TOPIC: &str = "__kafka_chaos_probe";

fn base_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .set("socket.timeout.ms", "5000")
        .set("log_level", "3");
    c
}

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, BrokerError> {
    base_config(bootstrap)
        .create()
        .map_err(|e| BrokerError::Admin(format!("cannot create admin client: {e}")))
}

/// Creates `topic` with `replicas` replicas and `configs` unless it exists.
/// Returns an error message.
async fn ensure_topic(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    replicas: usize,
    configs: &BTreeMap<String, String>,
    timeout: Duration,
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
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => return Err(format!("creating topic {t}: {code}")),
        }
    }
    Ok(())
}

async fn probe_once(
    admin: &AdminClient<DefaultClientContext>,
    producer: &FutureProducer,
    replicas: usize,
) -> Result<(), String> {
    // With min.insync.replicas = replicas, an acks=all probe is only
    // acknowledged when every node holds it: a topic created while a node
    // was still starting would otherwise accept it on fewer replicas.
    let configs = BTreeMap::from([("min.insync.replicas".to_string(), replicas.to_string())]);
    ensure_topic(
        admin,
        PROBE_TOPIC,
        1,
        replicas,
        &configs,
        Duration::from_secs(5),
    )
    .await?;
    let payload = b"probe";
    producer
        .send(
            FutureRecord::<(), _>::to(PROBE_TOPIC).payload(&payload[..]),
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
        match tokio::time::timeout(left, probe_once(&admin, &producer, replicas)).await {
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
    let admin = admin(bootstrap)?;
    ensure_topic(
        &admin,
        topic,
        partitions,
        replicas,
        configs,
        Duration::from_secs(30),
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
