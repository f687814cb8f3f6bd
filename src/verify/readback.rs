//! Reading a topic back: what the broker really kept.
//!
//! After the broker is healthy again, the end of every partition is fixed
//! once the topic is stable ([`stable_end`]: no transaction open, every
//! commit marker written — bounded, and reported), then a fresh consumer
//! (no group state, no commits) reads every partition from the beginning
//! until it reaches that end ([`read_to`]) — never "until idle", which would
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

/// Where a read-back ends on one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionEnd {
    pub partition: i32,
    /// The log start offset.
    pub low: i64,
    /// The high watermark (as a `read_uncommitted` reader sees it).
    pub high: i64,
    /// The last stable offset (the end a `read_committed` reader sees):
    /// below the high watermark while a transaction is open, or its
    /// commit markers are not written yet.
    pub stable: i64,
}

impl PartitionEnd {
    /// No transaction is open: both readers see the same end.
    pub fn is_stable(&self) -> bool {
        self.stable >= self.high
    }

    /// The offset a reader with `isolation` reads up to: the high
    /// watermark; for `read_committed` on a partition that never became
    /// stable, the last stable offset (it cannot read further).
    pub fn end(&self, isolation: Isolation) -> i64 {
        match isolation {
            Isolation::ReadUncommitted => self.high,
            Isolation::ReadCommitted if self.is_stable() => self.high.max(self.stable),
            Isolation::ReadCommitted => self.stable,
        }
    }
}

/// Where a read-back of a topic ends, fixed once the topic is stable.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicEnd {
    pub partitions: Vec<PartitionEnd>,
    /// How long it took until every partition was stable (or the bound
    /// passed).
    pub waited: Duration,
}

impl TopicEnd {
    /// The partitions whose last stable offset never reached the high
    /// watermark within the bound.
    pub fn unsettled(&self) -> impl Iterator<Item = &PartitionEnd> {
        self.partitions.iter().filter(|p| !p.is_stable())
    }
}

/// Reads `topic` from the beginning to its true end, seeing what a
/// `read_committed` consumer sees: waits (up to 30 s) until no transaction
/// is open ([`stable_end`]), then reads ([`read_to`]).
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
    let end = stable_end(bootstrap, topic, Duration::from_secs(30)).await?;
    read_to(bootstrap, topic, &end, timeout, isolation).await
}

/// Fixes where a read-back ends: on every partition, waits (up to `bound`)
/// until the last stable offset (watermarks asked with `read_committed`)
/// has reached the high watermark (asked with `read_uncommitted`) — every
/// transaction ended, its markers written — so that records of a committed
/// transaction whose markers are late are not left out.
pub async fn stable_end(
    bootstrap: &str,
    topic: &str,
    bound: Duration,
) -> Result<TopicEnd, ReadbackError> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    let t2 = topic.clone();
    tokio::task::spawn_blocking(move || stable_end_blocking(&bootstrap, &topic, bound))
        .await
        .map_err(|e| ReadbackError::Failed {
            topic: t2,
            reason: e.to_string(),
        })?
}

/// Reads `topic` from the beginning up to `end`, with `isolation`.
pub async fn read_to(
    bootstrap: &str,
    topic: &str,
    end: &TopicEnd,
    timeout: Duration,
    isolation: Isolation,
) -> Result<Vec<ConsumedRecord>, ReadbackError> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    let t2 = topic.clone();
    let end = end.clone();
    tokio::task::spawn_blocking(move || read_blocking(&bootstrap, &topic, &end, timeout, isolation))
        .await
        .map_err(|e| ReadbackError::Failed {
            topic: t2,
            reason: e.to_string(),
        })?
}

fn consumer(
    bootstrap: &str,
    topic: &str,
    isolation: Isolation,
) -> Result<BaseConsumer, KafkaError> {
    let mut cfg = ClientConfig::new();
    // A cluster's security settings (`--client-properties`), if any.
    crate::spec::connection::apply(&mut cfg, bootstrap);
    cfg.set("bootstrap.servers", bootstrap)
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
}

fn stable_end_blocking(
    bootstrap: &str,
    topic: &str,
    bound: Duration,
) -> Result<TopicEnd, ReadbackError> {
    let fail = |reason: String| ReadbackError::Failed {
        topic: topic.to_string(),
        reason,
    };
    let started = Instant::now();
    // Watermarks are asked with the consumer's isolation level: the high
    // one is the high watermark for one, the last stable offset for the
    // other.
    let uncommitted = consumer(bootstrap, topic, Isolation::ReadUncommitted)
        .map_err(|e| fail(format!("cannot create consumer: {e}")))?;
    let committed = consumer(bootstrap, topic, Isolation::ReadCommitted)
        .map_err(|e| fail(format!("cannot create consumer: {e}")))?;
    // Right after a restart the broker may answer a produce probe before
    // it leads every partition again (NotLeaderForPartition): such errors
    // are retried until the bound, and only then are they the answer.
    let retry = |what: String, e: KafkaError| -> Result<(), ReadbackError> {
        if started.elapsed() >= bound {
            return Err(fail(format!("{what}: {e}")));
        }
        tracing::debug!("{what}: {e}; retrying");
        std::thread::sleep(Duration::from_millis(100));
        Ok(())
    };
    let mut pending: Vec<i32> = loop {
        match uncommitted.fetch_metadata(Some(topic), Duration::from_secs(10)) {
            Ok(md) => {
                break md
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic)
                    .map(|t| t.partitions().iter().map(|p| p.id()).collect())
                    .unwrap_or_default()
            }
            Err(e) => retry("metadata".into(), e)?,
        }
    };
    if pending.is_empty() {
        return Err(fail("the topic has no partitions".into()));
    }
    let mut ends: Vec<PartitionEnd> = Vec::with_capacity(pending.len());
    loop {
        let mut still = Vec::new();
        for &p in &pending {
            let watermarks = uncommitted
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_err(|e| (format!("watermarks of partition {p}"), e))
                .and_then(|(low, high)| {
                    committed
                        .fetch_watermarks(topic, p, Duration::from_secs(10))
                        .map(|(_, stable)| (low, high, stable))
                        .map_err(|e| (format!("last stable offset of partition {p}"), e))
                });
            let (low, high, stable) = match watermarks {
                Ok(w) => w,
                Err((what, e)) => {
                    retry(what, e)?;
                    still.push(p);
                    continue;
                }
            };
            let end = PartitionEnd {
                partition: p,
                low,
                high,
                stable,
            };
            if end.is_stable() || started.elapsed() >= bound {
                if !end.is_stable() {
                    tracing::warn!(
                        "partition {p} of {topic}: last stable offset {stable} < high watermark {high} after {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                ends.push(end);
            } else {
                tracing::debug!(
                    "partition {p} of {topic}: last stable offset {stable} < high watermark {high}; waiting"
                );
                still.push(p);
            }
        }
        if still.is_empty() {
            break;
        }
        pending = still;
        std::thread::sleep(Duration::from_millis(50));
    }
    ends.sort_by_key(|e| e.partition);
    Ok(TopicEnd {
        partitions: ends,
        waited: started.elapsed(),
    })
}

fn read_blocking(
    bootstrap: &str,
    topic: &str,
    end: &TopicEnd,
    timeout: Duration,
    isolation: Isolation,
) -> Result<Vec<ConsumedRecord>, ReadbackError> {
    let fail = |reason: String| ReadbackError::Failed {
        topic: topic.to_string(),
        reason,
    };
    let consumer = consumer(bootstrap, topic, isolation)
        .map_err(|e| fail(format!("cannot create consumer: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    let mut expected = 0u64;
    let mut pending: HashMap<i32, i64> = HashMap::new();
    for p in &end.partitions {
        let to = p.end(isolation);
        expected += (to - p.low).max(0) as u64;
        if to > 0 {
            pending.insert(p.partition, to);
        }
        tpl.add_partition_offset(topic, p.partition, Offset::Beginning)
            .map_err(|e| fail(e.to_string()))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| fail(format!("assign: {e}")))?;

    // Done when each partition has reached its end.
    let mut out = Vec::with_capacity(expected.min(1 << 24) as usize);
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
