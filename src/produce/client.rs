//! The producer client the built-in modes send through: librdkafka's
//! producer, a thread that serves its delivery reports, and the send path.
//!
//! Not rust-rdkafka's `ThreadedProducer`, for two costs measured in
//! `bench` (BENCHMARKS.md, "The producer's own costs"):
//!
//! - closing: its polling thread waits in 100 ms polls, and dropping the
//!   producer joins it, so every application's end took 50–100 ms longer
//!   than librdkafka needs. Here the thread polls in [`POLL_STEP`]s and
//!   ends within one of them.
//! - sending: `BaseProducer::send` copies the topic name into a new
//!   `CString` for every record, and librdkafka's `producev` then looks the
//!   topic up by name under the client's write lock. Here the topic handle
//!   is made once, and each record goes through `rd_kafka_produce`, as
//!   kcat does.
//!
//! Delivery reports still go through rust-rdkafka's event handling into the
//! [`ProducerContext`]; the opaque of each record is its sequence number.

use std::ffi::CString;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::ClientConfig;

/// How long the delivery-report thread waits for an event at a time, and
/// so the longest a close waits for it. Reports arriving wake it at once.
pub const POLL_STEP: Duration = Duration::from_millis(5);

/// librdkafka's `RD_KAFKA_PARTITION_UA`: the partitioner picks.
const PARTITION_ANY: i32 = -1;

/// A producer, its delivery-report thread and the experiment topic's
/// handle. Dropping it stops the thread, releases the topic and closes the
/// producer (rust-rdkafka purges what is still queued).
pub struct ProducerClient<C: ProducerContext + 'static> {
    topic: TopicHandle,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
    producer: Arc<BaseProducer<C>>,
}

/// librdkafka's handle of one topic, made once per client.
struct TopicHandle(*mut rd::rd_kafka_topic_t);

// SAFETY: librdkafka's topic handles are thread-safe (its documentation:
// all of the API is, except where noted; `rd_kafka_produce` from any
// thread is its main use).
unsafe impl Send for TopicHandle {}
// SAFETY: as above; the handle is only passed to librdkafka.
unsafe impl Sync for TopicHandle {}

impl Drop for TopicHandle {
    fn drop(&mut self) {
        // SAFETY: made by `rd_kafka_topic_new` in `ProducerClient::new` and
        // released once, here, before the producer that owns it.
        unsafe { rd::rd_kafka_topic_destroy(self.0) }
    }
}

impl<C: ProducerContext + 'static> ProducerClient<C> {
    /// Creates the producer with `context`, its delivery-report thread, and
    /// the handle of `topic`.
    pub fn new(cfg: &ClientConfig, context: C, topic: &str) -> Result<Self, KafkaError> {
        let producer: Arc<BaseProducer<C>> = Arc::new(cfg.create_with_context(context)?);
        let name = CString::new(topic).map_err(|_| {
            KafkaError::ClientCreation(format!("topic name {topic:?} contains a NUL byte"))
        })?;
        // SAFETY: a valid client and a NUL-terminated name; a null
        // configuration means the client's topic defaults.
        let rkt = unsafe {
            rd::rd_kafka_topic_new(
                producer.client().native_ptr(),
                name.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        if rkt.is_null() {
            // SAFETY: reads the calling thread's last librdkafka error.
            let code: RDKafkaErrorCode = unsafe { rd::rd_kafka_last_error() }.into();
            return Err(KafkaError::ClientCreation(format!(
                "cannot make a handle for topic {topic}: {code}"
            )));
        }
        let topic = TopicHandle(rkt);
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let producer = Arc::clone(&producer);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("delivery reports".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        producer.poll(POLL_STEP);
                    }
                })
                .map_err(|e| {
                    KafkaError::ClientCreation(format!("cannot start the report thread: {e}"))
                })?
        };
        Ok(ProducerClient {
            topic,
            stop,
            poller: Some(poller),
            producer,
        })
    }

    /// Hands one record (no key, any partition) to librdkafka, which copies
    /// `payload`; `seq` comes back as the delivery report's opaque. Never
    /// blocks: a full local queue is `QueueFull`.
    pub fn send(&self, payload: &[u8], seq: usize) -> Result<(), RDKafkaErrorCode> {
        // SAFETY: the topic handle lives as long as `self`; librdkafka copies
        // the payload before returning (RD_KAFKA_MSG_F_COPY) and only reads
        // it; the opaque is a plain number, never dereferenced.
        let rc = unsafe {
            rd::rd_kafka_produce(
                self.topic.0,
                PARTITION_ANY,
                rd::RD_KAFKA_MSG_F_COPY,
                payload.as_ptr() as *mut std::ffi::c_void,
                payload.len(),
                std::ptr::null(),
                0,
                seq as *mut std::ffi::c_void,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            // SAFETY: reads the calling thread's last librdkafka error, set
            // by the call above.
            Err(unsafe { rd::rd_kafka_last_error() }.into())
        }
    }
}

impl<C: ProducerContext + 'static> Deref for ProducerClient<C> {
    type Target = BaseProducer<C>;

    /// The producer, for what is not sending: transactions, the queue's
    /// length.
    fn deref(&self) -> &BaseProducer<C> {
        &self.producer
    }
}

impl<C: ProducerContext + 'static> Drop for ProducerClient<C> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(poller) = self.poller.take() {
            if poller.join().is_err() {
                tracing::warn!("the delivery-report thread panicked");
            }
        }
        // The topic handle goes before the producer (field order), and the
        // producer's last handle is `self.producer`: its drop purges what is
        // queued and serves the purge's reports, then librdkafka closes.
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use rdkafka::message::Message;
    use rdkafka::producer::DeliveryResult;
    use rdkafka::ClientContext;

    use super::*;

    #[derive(Default)]
    struct Seen(Mutex<Vec<(usize, bool)>>);
    impl ClientContext for Seen {}
    impl ProducerContext for Seen {
        type DeliveryOpaque = usize;
        fn delivery(&self, r: &DeliveryResult<'_>, seq: usize) {
            let ok = r.as_ref().is_ok_and(|m| m.topic() == "t");
            self.0.lock().unwrap().push((seq, ok));
        }
    }

    /// librdkafka's mock cluster (no Kafka): every record's opaque comes
    /// back in its delivery report, for the topic the client was made for.
    #[test]
    fn reports_carry_the_sequence() {
        let mut cfg = ClientConfig::new();
        cfg.set("test.mock.num.brokers", "1")
            .set("linger.ms", "1")
            .set("message.timeout.ms", "10000");
        let c = ProducerClient::new(&cfg, Seen::default(), "t").unwrap();
        for seq in 0..1000 {
            c.send(format!("r{seq}").as_bytes(), seq).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.in_flight_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut seen = c.context().0.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen.len(), 1000);
        assert!(seen.iter().enumerate().all(|(i, &(s, ok))| s == i && ok));
        drop(c);
    }

    #[test]
    fn a_topic_name_with_a_nul_byte_is_refused() {
        let mut cfg = ClientConfig::new();
        cfg.set("test.mock.num.brokers", "1");
        assert!(ProducerClient::new(&cfg, Seen::default(), "a\0b").is_err());
    }
}
