//! Reading a topic back: what the broker really kept.
//!
//! After the broker is healthy again, a fresh consumer (no group state, no
//! commits) reads every partition from the beginning until it reaches the
//! high watermark measured before reading — never "until idle", which would
//! confuse a slow broker with an empty one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::model::verdict::ConsumedRecord;
use crate::produce::payload::parse_payload;

#[derive(Debug, thiserror::Error)]
pub enum ReadbackError {
    #[error("cannot read topic {topic} back: {reason}")]
    Failed { topic: String, reason: String },
    #[error(
        "reading topic {topic} back timed out after {after:?}: {read} of {expected} records read"
    )]
    Timeout {
        topic: String,
        after: Duration,
        read: u64,
        expected: u64,
    },
}

/// Which records a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Only records of committed transactions (and non-transactional ones).
    ReadCommitted,
    /// Everything written, aborted transactions included.
    ReadUncommitted,
}

impl Isolation {
    fn as_config(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read_committed",
            Isolation::ReadUncommitted => "read_uncommitted",
        }
    }
}

/// Reads `topic` from the beginning to its high watermarks, seeing what a
/// `read_committed` consumer sees.
pub async fn read_topic(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<ConsumedRecord>, ReadbackError> {
    read_topic_with(bootstrap, topic, timeout, Isolation::ReadCommitted).await
}

/// [`read_topic`] with a chosen isolation level.
pub async fn read_topic_with(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    isolation: Isolation,
) -> Result<Vec<ConsumedRecord>, ReadbackError> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    let t2 = topic.clone();
    tokio::task::spawn_blocking(move || read_blocking(&bootstrap, &topic, timeout, isolation))
        .await
        .map_err(|e| ReadbackError::Failed {
            topic: t2,
            reason: e.to_string(),
        })?
}

fn read_blocking(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    isolation: Isolation,
) -> Result<Vec<ConsumedRecord>, ReadbackError> {
    let fail = |reason: String| ReadbackError::Failed {
        topic: topic.to_string(),
        reason,
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("kafka-chaos-readback-{topic}"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation.as_config())
        // librdkafka pauses fetching for a whole second (the default) each
        // time its queue is full; reading a million records back, that
        // doubled the verification phase (measured, BENCHMARKS.md).
        .set("fetch.queue.backoff.ms", "10")
        .set("log_level", "3")
        .create()
        .map_err(|e| fail(format!("cannot create consumer: {e}")))?;

    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| fail(format!("metadata: {e}")))?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(fail("the topic has no partitions".into()));
    }

    let mut high: HashMap<i32, i64> = HashMap::new();
    let mut tpl = TopicPartitionList::new();
    let mut expected = 0u64;
    for &p in &partitions {
        let (low, hi) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(|e| fail(format!("watermarks of partition {p}: {e}")))?;
        expected += (hi - low).max(0) as u64;
        high.insert(p, hi);
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| fail(e.to_string()))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| fail(format!("assign: {e}")))?;

    // Done when each partition has reached its high watermark.
    let mut pending: HashMap<i32, i64> = high.into_iter().filter(|(_, h)| *h > 0).collect();
    let mut out = Vec::with_capacity(expected as usize);
    let started = Instant::now();
    while !pending.is_empty() {
        if started.elapsed() > timeout {
            return Err(ReadbackError::Timeout {
                topic: topic.to_string(),
                after: timeout,
                read: out.len() as u64,
                expected,
            });
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Ok(m)) => {
                let p = m.partition();
                let offset = m.offset();
                out.push(ConsumedRecord {
                    partition: p,
                    offset,
                    seq: m.payload().and_then(|b| parse_payload(topic, b)),
                });
                if pending.get(&p).is_some_and(|h| offset + 1 >= *h) {
                    pending.remove(&p);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                // The end of the log (it may lie past the last record we saw
                // when transaction markers or aborted records end it).
                if let Ok(pos) = consumer.position() {
                    let at = pos
                        .find_partition(topic, p)
                        .and_then(|e| e.offset().to_raw());
                    if let (Some(at), Some(h)) = (at, pending.get(&p)) {
                        if at >= *h {
                            pending.remove(&p);
                        }
                    }
                }
            }
            Some(Err(e)) => {
                tracing::debug!("readback: {e}");
            }
        }
    }
    Ok(out)
}
