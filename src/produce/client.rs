//! The producer client the built-in modes send through: librdkafka's
//! producer, a thread that serves its delivery reports, and the send path.
//!
//! Not rust-rdkafka's `ThreadedProducer`, for two costs measured in
//! `bench` (BENCHMARKS.md, "The producer's own costs"):
//!
//! - closing: its polling thread waits in 100 ms polls, and dropping the
//!   producer joins it, so every application's end took 50–100 ms longer
//!   than librdkafka needs. Here the thread sleeps on a pipe that
//!   librdkafka writes to when a report arrives (`rd_kafka_queue_io_event_
//!   enable`), and that a close writes to as well: it wakes at once for
//!   either, and ends at once.
//! - waiting: any timed poll through rust-rdkafka spins for the last
//!   millisecond of its timeout (it passes whole milliseconds to
//!   librdkafka, so the remainder becomes polls without a wait): with short
//!   steps that was a fifth of a core per producer, measured with `perf` in
//!   the quick matrix. Here the thread never polls with a timeout; it
//!   serves what is queued without waiting, then sleeps on the pipe.
//! - sending: `BaseProducer::send` copies the topic name into a new
//!   `CString` for every record, and librdkafka's `producev` then looks the
//!   topic up by name under the client's write lock. Here the topic handle
//!   is made once, and each record goes through `rd_kafka_produce`, as
//!   kcat does. A topic of one partition gets its records addressed to
//!   partition 0, which spares librdkafka its partitioner for every record
//!   (a topic lock and the sticky partitioner's clock reads); with more
//!   partitions the partitioner picks, as before.
//!
//! Delivery reports still go through rust-rdkafka's event handling into the
//! [`ProducerContext`]; the opaque of each record is its sequence number.

use std::ffi::CString;
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::ClientConfig;

/// The longest the delivery-report thread sleeps without looking at the
/// queue: a safety net only (reports and a close wake it at once).
pub const IDLE_CHECK: Duration = Duration::from_millis(100);

/// librdkafka's `RD_KAFKA_PARTITION_UA`: the partitioner picks.
const PARTITION_ANY: i32 = -1;

/// A producer, its delivery-report thread and the experiment topic's
/// handle. Dropping it stops the thread, releases the topic and closes the
/// producer (rust-rdkafka purges what is still queued).
pub struct ProducerClient<C: ProducerContext + 'static> {
    topic: TopicHandle,
    /// Partition 0 for a topic of one partition, else [`PARTITION_ANY`].
    partition: i32,
    stop: Arc<AtomicBool>,
    /// The pipe's write end that a close writes to, to wake the thread.
    wake: std::io::PipeWriter,
    /// The delivery-report thread; it owns the main queue's handle, so the
    /// handle is released when it ends, before the producer.
    poller: Option<JoinHandle<()>>,
    producer: Arc<BaseProducer<C>>,
}

/// A handle of librdkafka's main queue (where the delivery reports go),
/// taken once per client; its IO event writes a byte to a pipe.
struct QueueHandle {
    ptr: *mut rd::rd_kafka_queue_t,
    /// The pipe's write end that librdkafka writes to; open as long as
    /// the IO event is enabled.
    _signal: std::io::PipeWriter,
}

// SAFETY: librdkafka's queue handles are thread-safe (as topic handles
// above); the handle is only passed to librdkafka.
unsafe impl Send for QueueHandle {}
// SAFETY: as above.
unsafe impl Sync for QueueHandle {}

impl QueueHandle {
    fn len(&self) -> usize {
        // SAFETY: a live queue handle (released only in `drop`).
        unsafe { rd::rd_kafka_queue_length(self.ptr) }
    }
}

impl Drop for QueueHandle {
    fn drop(&mut self) {
        // SAFETY: the handle from `rd_kafka_queue_get_main`, released once;
        // the IO event is switched off first, so librdkafka never writes to
        // the pipe after its write end is closed (the field drops after).
        unsafe {
            rd::rd_kafka_queue_io_event_enable(self.ptr, -1, std::ptr::null(), 0);
            rd::rd_kafka_queue_destroy(self.ptr);
        }
    }
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
    /// the handle of `topic`, which has `partitions` partitions.
    pub fn new(
        cfg: &ClientConfig,
        context: C,
        topic: &str,
        partitions: i32,
    ) -> Result<Self, KafkaError> {
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
        let no_thread = |e: std::io::Error| {
            KafkaError::ClientCreation(format!("cannot start the report thread: {e}"))
        };
        let (mut woken, signal) = std::io::pipe().map_err(no_thread)?;
        let wake = signal.try_clone().map_err(no_thread)?;
        // librdkafka writes from its own threads: never let it block there.
        set_nonblocking(&signal).map_err(no_thread)?;
        // SAFETY: a valid client; the returned handle is released by
        // `QueueHandle::drop`.
        let ptr = unsafe { rd::rd_kafka_queue_get_main(producer.client().native_ptr()) };
        const BYTE: &[u8] = b"r";
        // SAFETY: a live queue; librdkafka copies the one-byte payload; the
        // pipe's write end lives in the handle until the event is disabled.
        unsafe {
            rd::rd_kafka_queue_io_event_enable(
                ptr,
                signal.as_raw_fd(),
                BYTE.as_ptr().cast(),
                BYTE.len(),
            )
        };
        let queue = QueueHandle {
            ptr,
            _signal: signal,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let producer = Arc::clone(&producer);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("delivery reports".into())
                .spawn(move || serve_reports(&producer, &queue, &mut woken, &stop))
                .map_err(no_thread)?
        };
        Ok(ProducerClient {
            topic,
            partition: if partitions == 1 { 0 } else { PARTITION_ANY },
            stop,
            wake,
            poller: Some(poller),
            producer,
        })
    }

    /// Hands one record (no key; partition 0 of a one-partition topic, else
    /// the partitioner's choice) to librdkafka, which copies
    /// `payload`; `seq` comes back as the delivery report's opaque. Never
    /// blocks: a full local queue is `QueueFull`.
    pub fn send(&self, payload: &[u8], seq: usize) -> Result<(), RDKafkaErrorCode> {
        // SAFETY: the topic handle lives as long as `self`; librdkafka copies
        // the payload before returning (RD_KAFKA_MSG_F_COPY) and only reads
        // it; the opaque is a plain number, never dereferenced.
        let rc = unsafe {
            rd::rd_kafka_produce(
                self.topic.0,
                self.partition,
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

/// The delivery-report thread: serves every event queued, without
/// waiting, then sleeps until the pipe says more arrived or a close wrote
/// to it. What a close leaves queued, the producer's drop serves.
fn serve_reports<C: ProducerContext>(
    producer: &BaseProducer<C>,
    queue: &QueueHandle,
    woken: &mut std::io::PipeReader,
    stop: &AtomicBool,
) {
    let mut buf = [0u8; 64];
    loop {
        // One operation per zero-timeout poll (an event may carry many
        // reports); every poll takes one, so this ends unless reports keep
        // coming, and then serving them is the point.
        while queue.len() > 0 {
            producer.poll(Duration::ZERO);
        }
        if stop.load(Ordering::Acquire) {
            return;
        }
        // librdkafka writes one byte at the first enqueue after a poll.
        if wait_readable(woken, IDLE_CHECK) {
            // Empty the pipe: every byte means "look again", once is enough.
            let _ = std::io::Read::read(woken, &mut buf);
        }
    }
}

/// Waits until `pipe` has something to read, at most `timeout`. True if it
/// has; false after the timeout or a failed (interrupted) wait, after which
/// the caller looks at the queue again.
fn wait_readable(pipe: &std::io::PipeReader, timeout: Duration) -> bool {
    let mut fds = libc::pollfd {
        fd: pipe.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut fds, 1, ms) };
    n > 0
}

fn set_nonblocking(fd: &impl AsRawFd) -> std::io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on an open descriptor owned by the caller.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl<C: ProducerContext + 'static> Drop for ProducerClient<C> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the thread (a full pipe is already a wake-up).
        let _ = std::io::Write::write(&mut self.wake, b"s");
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

    /// Each report's sequence, whether it was a success for topic "t", and
    /// its partition.
    #[derive(Default)]
    struct Seen(Mutex<Vec<(usize, bool, i32)>>);
    impl ClientContext for Seen {}
    impl ProducerContext for Seen {
        type DeliveryOpaque = usize;
        fn delivery(&self, r: &DeliveryResult<'_>, seq: usize) {
            let ok = r.as_ref().is_ok_and(|m| m.topic() == "t");
            let partition = match r {
                Ok(m) => m.partition(),
                Err((_, m)) => m.partition(),
            };
            self.0.lock().unwrap().push((seq, ok, partition));
        }
    }

    fn wait_for_reports(c: &ProducerClient<Seen>) -> Vec<(usize, bool, i32)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.in_flight_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut seen = c.context().0.lock().unwrap().clone();
        seen.sort_unstable();
        seen
    }

    /// A client of librdkafka's mock cluster (one broker, no Kafka).
    fn mock_config() -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("test.mock.num.brokers", "1")
            .set("linger.ms", "1")
            .set("message.timeout.ms", "10000");
        cfg
    }

    /// librdkafka's mock cluster (no Kafka): every record's opaque comes
    /// back in its delivery report, for the topic the client was made for.
    #[test]
    fn reports_carry_the_sequence() {
        let cfg = mock_config();
        let c = ProducerClient::new(&cfg, Seen::default(), "t", 4).unwrap();
        for seq in 0..1000 {
            c.send(format!("r{seq}").as_bytes(), seq).unwrap();
        }
        let seen = wait_for_reports(&c);
        assert_eq!(seen.len(), 1000);
        assert!(seen.iter().enumerate().all(|(i, &(s, ok, _))| s == i && ok));
        drop(c);
    }

    /// The mock cluster makes topics of 4 partitions. Told the topic has
    /// one, the client addresses partition 0 itself; told it has four, the
    /// sticky partitioner moves on every 10 ms, so batches 20 ms apart
    /// land on more than one partition (all on one: 4^-9).
    #[test]
    fn one_partition_is_addressed_and_more_are_left_to_the_partitioner() {
        let cfg = mock_config();
        for (partitions, one_partition) in [(1, true), (4, false)] {
            let c = ProducerClient::new(&cfg, Seen::default(), "t", partitions).unwrap();
            for batch in 0..10 {
                for seq in batch * 10..batch * 10 + 10 {
                    c.send(b"r", seq).unwrap();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let seen = wait_for_reports(&c);
            assert_eq!(seen.len(), 100);
            assert!(seen.iter().all(|&(_, ok, _)| ok));
            let used: std::collections::BTreeSet<i32> = seen.iter().map(|r| r.2).collect();
            if one_partition {
                assert_eq!(used, [0].into(), "partitions={partitions}");
            } else {
                assert!(used.len() > 1, "partitions={partitions}: {used:?}");
            }
        }
    }

    /// CPU seconds of this process's threads named `name` (Linux).
    fn thread_cpu(name: &str) -> f64 {
        let hz = 100.0; // USER_HZ on Linux
        let mut total = 0.0;
        for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
            let f: Vec<&str> = after.split_whitespace().collect();
            total += (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / hz;
        }
        total
    }

    /// The report thread sleeps while nothing comes: over a second without
    /// records it takes next to no CPU (polls in short timed steps took
    /// about 0.2 s of it: rust-rdkafka spins through each step's last
    /// millisecond).
    #[test]
    fn an_idle_client_does_not_spin() {
        let mut cfg = ClientConfig::new();
        cfg.set("test.mock.num.brokers", "1");
        let c = ProducerClient::new(&cfg, Seen::default(), "t", 1).unwrap();
        c.send(b"r", 0).unwrap();
        assert_eq!(wait_for_reports(&c).len(), 1);
        let before = thread_cpu("delivery report");
        std::thread::sleep(Duration::from_secs(1));
        let used = thread_cpu("delivery report") - before;
        assert!(used < 0.05, "the idle report thread used {used:.2} CPU s");
        drop(c);
    }

    #[test]
    fn a_topic_name_with_a_nul_byte_is_refused() {
        let mut cfg = ClientConfig::new();
        cfg.set("test.mock.num.brokers", "1");
        assert!(ProducerClient::new(&cfg, Seen::default(), "a\0b", 1).is_err());
    }
}
