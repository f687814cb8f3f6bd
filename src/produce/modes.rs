//! The ways of sending, each faithful to the tutorial's Python producers.
//!
//! - `fire-and-forget`: `producer.send(...)` and nothing else; the script
//!   ends without flushing, so whatever librdkafka still holds is dropped.
//! - `sync`: `producer.send(...).get(timeout=10)`; a timeout or error is
//!   caught and recorded, and the loop goes on (without its pause, as in the
//!   tutorial, where the `sleep` sits inside the `try` after a success).
//! - `async`: `send` with a success callback and an error callback that
//!   record the outcome; `flush()` and `close()` at the end.
//! - `idempotent`: `async` with `enable.idempotence=true`.
//! - `transactional`: records in transactions of `transaction_size`, acked
//!   when their transaction commits.
//!
//! Every mode fills a [`Ledger`] with what the application was told; the
//! delivery reports the application does not look at are not in it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{DeliveryResult, Producer, ProducerContext};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, ClientContext};

use super::client::ProducerClient;
use super::gate::Progress;
use super::job::{ModeError, ProduceJob, Produced, SendObserver};
use super::payload::write_payload;
use super::reports::{Inbox, Reports};
use crate::model::ledger::{Ledger, Outcome, Persistence};
use crate::spec::{ExperimentSpec, Mode};

/// Turns delivery reports into ledger outcomes, on librdkafka's thread.
struct DeliveryContext {
    origin: Instant,
    reports: Arc<Reports>,
    /// The fault gate's counters: a success counts as acknowledged at once.
    progress: Arc<Progress>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let at = self.origin.elapsed().as_secs_f64();
        let outcome = match result {
            Ok(m) => {
                self.progress.add_acked();
                Outcome::Acked {
                    partition: m.partition(),
                    offset: m.offset(),
                    at,
                }
            }
            Err((e, m)) => Outcome::Failed {
                error: e.to_string(),
                persistence: persistence_of(m),
                at,
            },
        };
        // Dropped once the application ended: then nobody listens, which
        // is the point.
        self.reports.push((seq as u64, outcome));
    }
}

/// librdkafka's persistence status of a message.
fn persistence_of(m: &BorrowedMessage<'_>) -> Persistence {
    use rdkafka::bindings::rd_kafka_msg_status_t as S;
    // SAFETY: the message pointer is valid for the duration of the callback.
    let status = unsafe { rdkafka::bindings::rd_kafka_message_status(m.ptr()) };
    match status {
        S::RD_KAFKA_MSG_STATUS_NOT_PERSISTED => Persistence::NotPersisted,
        S::RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED => Persistence::PossiblyPersisted,
        S::RD_KAFKA_MSG_STATUS_PERSISTED => Persistence::Persisted,
    }
}

/// The librdkafka configuration a spec's producer runs with.
pub fn client_config(spec: &ExperimentSpec, bootstrap: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    for (k, v) in &spec.client {
        cfg.set(k, v);
    }
    cfg.set("bootstrap.servers", bootstrap);
    // A cluster's security settings (`--client-properties`), if any.
    crate::spec::connection::apply(&mut cfg, bootstrap);
    cfg
}

/// Runs an rdkafka producer in the spec's mode until the application ends
/// (the dispatch is [`super::produce`]).
pub async fn produce(
    job: ProduceJob<'_>,
    observer: &mut dyn SendObserver,
) -> Result<Produced, ModeError> {
    let mut run = Run::start(&job)?;
    // fault_after = 0: the fault is in force before the first record.
    job.gate.sent(0).await;
    match job.spec.mode {
        Mode::FireAndForget => run.fire_and_forget(observer).await,
        Mode::Sync => run.sync(observer).await,
        Mode::Async | Mode::Idempotent => run.asynchronous(observer).await,
        Mode::Transactional => run.transactional(observer).await,
        // Dispatched to the external producer by `super::produce`.
        Mode::External => {}
    }
    run.finish().await
}

type Client = ProducerClient<DeliveryContext>;

/// Without a pause between sends, async mode takes the delivery reports
/// that arrived every this many records (and at the end).
const DRAIN_EVERY: u64 = 256;

/// A producer for the experiment's topic whose delivery reports go to
/// `reports`. Transactional mode gets a `transactional.id` unique to the
/// topic.
fn create_producer(job: &ProduceJob<'_>, reports: Arc<Reports>) -> Result<Client, ModeError> {
    let ctx = DeliveryContext {
        origin: job.origin,
        reports,
        progress: job.gate.progress().clone(),
    };
    let mut cfg = client_config(job.spec, job.bootstrap);
    if job.spec.mode == Mode::Transactional {
        cfg.set("transactional.id", format!("kafka-chaos-{}", job.topic));
    }
    ProducerClient::new(&cfg, ctx, job.topic, job.spec.partitions)
        .map_err(|e| ModeError::Create(e.to_string()))
}

/// Drops a producer off the async runtime: rust-rdkafka purges what it
/// still holds, which may block briefly.
async fn drop_producer(p: Arc<Client>) -> Result<(), ModeError> {
    tokio::task::spawn_blocking(move || drop(p))
        .await
        .map_err(|e| ModeError::Task(e.to_string()))
}

/// A failed commit: the error, and whether the transaction may have
/// committed anyway.
#[derive(Debug, Clone, PartialEq)]
struct CommitFailure {
    error: String,
    persistence: Persistence,
}

/// What a failed `commit_transaction` says about the transaction's
/// records: a commit that timed out may have committed on the broker (the
/// client stopped waiting, the coordinator may have gone on), so its
/// records are `possibly_persisted`; any other failure means the
/// transaction did not commit.
fn commit_failure_persistence(code: Option<RDKafkaErrorCode>) -> Persistence {
    match code {
        Some(
            RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::TimedOutQueue,
        ) => Persistence::PossiblyPersisted,
        _ => Persistence::NotPersisted,
    }
}

struct Run<'a, 'b> {
    job: &'a ProduceJob<'b>,
    /// The only long-lived handle of the producer: replaced (and the old
    /// one dropped) when transactional mode starts a new one. Clones live
    /// only for the length of a blocking call.
    producer: Arc<Client>,
    /// The payload of the record being sent, reused from record to record.
    buf: Vec<u8>,
    /// Where the delivery reports arrive, shared with every producer the
    /// run creates (transactional mode makes new ones after fatal errors).
    inbox: Inbox,
    ledger: Ledger,
    late: u64,
    first_send: Option<f64>,
    last_send: f64,
}

impl<'a, 'b> Run<'a, 'b> {
    /// The application starts: its producer, and an empty ledger.
    fn start(job: &'a ProduceJob<'b>) -> Result<Self, ModeError> {
        let reports = Arc::new(Reports::default());
        let producer = Arc::new(create_producer(job, Arc::clone(&reports))?);
        Ok(Run {
            job,
            producer,
            buf: Vec::with_capacity(job.spec.payload_bytes.max(64)),
            inbox: Inbox::new(reports),
            ledger: Ledger::with_capacity(job.spec.records.min(1 << 24) as usize),
            late: 0,
            first_send: None,
            last_send: 0.0,
        })
    }

    /// The application ends: stop listening, then close the client (which
    /// purges whatever it still holds).
    async fn finish(self) -> Result<Produced, ModeError> {
        let Run {
            job,
            producer,
            inbox,
            ledger,
            late,
            first_send,
            last_send,
            ..
        } = self;
        inbox.close();
        drop_producer(producer).await?;
        Ok(Produced {
            ledger,
            first_send: first_send.unwrap_or(0.0),
            last_send,
            ended: job.origin.elapsed().as_secs_f64(),
            late_reports: late,
            notes: Vec::new(),
        })
    }
}

impl Run<'_, '_> {
    fn now(&self) -> f64 {
        self.job.origin.elapsed().as_secs_f64()
    }

    /// Hands record `seq` to the client. A full local queue makes `send`
    /// wait (as kafka-python's `send` blocks), other errors are returned.
    async fn send(&mut self, seq: u64) -> Result<(), KafkaError> {
        write_payload(
            &mut self.buf,
            self.job.topic,
            seq,
            self.job.spec.payload_bytes,
        );
        let at = self.now();
        self.first_send.get_or_insert(at);
        self.last_send = at;
        self.ledger.record_send(seq, at);
        loop {
            match self.producer.send(&self.buf, seq as usize) {
                Ok(()) => return Ok(()),
                Err(RDKafkaErrorCode::QueueFull) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(code) => return Err(KafkaError::MessageProduction(code)),
            }
        }
    }

    /// `count` records are in the ledger: tell the observer, and hand off
    /// to the fault side at a trigger point (waiting until the fault is in
    /// force).
    async fn handed_over(&mut self, observer: &mut dyn SendObserver, count: u64) {
        // The record's send time: one clock read per record, not two.
        observer.sent(count, self.last_send);
        self.job.gate.sent(count).await;
    }

    fn fail_now(&mut self, seq: u64, e: &KafkaError) {
        let at = self.now();
        self.ledger.record_outcome(
            seq,
            Outcome::Failed {
                error: e.to_string(),
                persistence: Persistence::NotPersisted,
                at,
            },
        );
    }

    /// Records every report that has already arrived.
    fn drain(&mut self) {
        for (seq, outcome) in self.inbox.take_all() {
            self.ledger.record_outcome(seq, outcome);
        }
    }

    async fn pause(&self) {
        if !self.job.spec.pause.is_zero() {
            tokio::time::sleep(self.job.spec.pause).await;
        }
    }

    async fn fire_and_forget(&mut self, observer: &mut dyn SendObserver) {
        for seq in 0..self.job.spec.records {
            // The script does not look at the result of send() at all.
            let _ = self.send(seq).await;
            self.handed_over(observer, seq + 1).await;
            self.pause().await;
        }
        // No flush: the script simply ends.
    }

    async fn sync(&mut self, observer: &mut dyn SendObserver) {
        let timeout = self.job.spec.sync_timeout;
        for seq in 0..self.job.spec.records {
            let sent = self.send(seq).await;
            self.handed_over(observer, seq + 1).await;
            if let Err(e) = sent {
                self.fail_now(seq, &e);
                continue;
            }
            let deadline = tokio::time::Instant::now() + timeout;
            let ok = loop {
                match self.inbox.next(deadline).await {
                    Some((s, outcome)) if s == seq => {
                        let ok = matches!(outcome, Outcome::Acked { .. });
                        self.ledger.record_outcome(seq, outcome);
                        break ok;
                    }
                    // A result for an earlier record whose get() already
                    // timed out: the script no longer listens for it.
                    Some(_) => self.late += 1,
                    None => {
                        let at = self.now();
                        self.ledger.record_outcome(
                            seq,
                            Outcome::Failed {
                                error: format!(
                                    "KafkaTimeoutError: no result within {}",
                                    humantime::format_duration(timeout)
                                ),
                                persistence: Persistence::PossiblyPersisted,
                                at,
                            },
                        );
                        break false;
                    }
                }
            };
            if ok {
                self.pause().await;
            }
        }
        // producer.flush(); producer.close(): whatever is still in flight
        // resolves, but the script no longer looks at it.
        self.flush().await;
        self.late += self.inbox.take_all().len() as u64;
    }

    async fn asynchronous(&mut self, observer: &mut dyn SendObserver) {
        let paused = !self.job.spec.pause.is_zero();
        for seq in 0..self.job.spec.records {
            if let Err(e) = self.send(seq).await {
                // send() raised: the script would see the exception.
                self.fail_now(seq, &e);
            }
            self.handed_over(observer, seq + 1).await;
            // Without a pause, reports are taken in batches: taking them
            // after every record costs a lock the report thread wants too.
            // When they are taken changes nothing in the ledger (each
            // outcome carries the time of its report).
            if paused || (seq + 1).is_multiple_of(DRAIN_EVERY) {
                self.drain();
            }
            self.pause().await;
        }
        self.flush().await;
        self.drain();
    }

    /// Records in transactions of `transaction_size`: begin, send, commit.
    /// A record counts as acked when its transaction commits and failed
    /// when the commit fails (the transaction is then aborted, or the
    /// producer recreated after a fatal error). Like the usual Java loop:
    /// abortable errors abort, retriable commit errors retry, fatal errors
    /// start a new producer (which fences the old one).
    async fn transactional(&mut self, observer: &mut dyn SendObserver) {
        let size = self.job.spec.transaction_size.max(1);
        let records = self.job.spec.records;
        let op_timeout = self.job.spec.message_timeout();
        let mut ready = self.init_transactions(op_timeout).await;
        let mut seq = 0;
        while seq < records {
            let batch: Vec<u64> = (seq..(seq + size).min(records)).collect();
            seq += batch.len() as u64;
            if let Err(e) = &ready {
                // No usable producer: the batch cannot even start.
                let error = e.clone();
                for &s in &batch {
                    self.skip_send(s);
                    self.handed_over(observer, s + 1).await;
                    self.fail_with(s, &error, Persistence::NotPersisted);
                }
                ready = self.recreate(op_timeout).await;
                continue;
            }
            let begun = self.producer.begin_transaction();
            let mut error = begun.err().map(|e| e.to_string());
            for &s in &batch {
                if error.is_none() {
                    if let Err(e) = self.send(s).await {
                        error = Some(e.to_string());
                    }
                } else {
                    self.skip_send(s);
                }
                self.handed_over(observer, s + 1).await;
                self.pause().await;
            }
            let result = match error {
                Some(error) => Err(CommitFailure {
                    error,
                    persistence: Persistence::NotPersisted,
                }),
                None => self.commit(op_timeout).await,
            };
            // The delivery reports of the batch have arrived by now (commit
            // flushes); they decide partition and offset, the commit decides
            // the outcome.
            let reports: std::collections::HashMap<u64, Outcome> =
                self.inbox.take_all().into_iter().collect();
            match result {
                Ok(()) => {
                    let at = self.now();
                    for &s in &batch {
                        let (partition, offset) = match reports.get(&s) {
                            Some(Outcome::Acked {
                                partition, offset, ..
                            }) => (*partition, *offset),
                            _ => (-1, -1),
                        };
                        self.ledger.record_outcome(
                            s,
                            Outcome::Acked {
                                partition,
                                offset,
                                at,
                            },
                        );
                    }
                }
                Err(f) => {
                    for &s in &batch {
                        self.fail_with(s, &f.error, f.persistence);
                    }
                    ready = self.after_failed_commit(op_timeout).await;
                }
            }
        }
    }

    /// Enters a record the application gives up on before handing it to
    /// the client (its transaction already failed): it is in the ledger, so
    /// every record gets a verdict, and it is failed, never sent.
    fn skip_send(&mut self, seq: u64) {
        let at = self.now();
        self.first_send.get_or_insert(at);
        self.last_send = at;
        self.ledger.record_send(seq, at);
    }

    fn fail_with(&mut self, seq: u64, error: &str, persistence: Persistence) {
        let at = self.now();
        self.ledger.record_outcome(
            seq,
            Outcome::Failed {
                error: error.to_string(),
                persistence,
                at,
            },
        );
    }

    async fn init_transactions(&self, timeout: Duration) -> Result<(), String> {
        let p = self.producer.clone();
        tokio::task::spawn_blocking(move || p.init_transactions(Timeout::After(timeout)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("init_transactions: {e}"))
    }

    /// `commit_transaction`, retried while it fails with a retriable error
    /// and time is left. A commit that finally timed out may have committed
    /// ([`commit_failure_persistence`]).
    async fn commit(&self, timeout: Duration) -> Result<(), CommitFailure> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let p = self.producer.clone();
            let r =
                tokio::task::spawn_blocking(move || p.commit_transaction(Timeout::After(timeout)))
                    .await
                    .map_err(|e| CommitFailure {
                        error: e.to_string(),
                        persistence: Persistence::PossiblyPersisted,
                    })?;
            match r {
                Ok(()) => return Ok(()),
                Err(KafkaError::Transaction(e))
                    if e.is_retriable() && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    return Err(CommitFailure {
                        persistence: commit_failure_persistence(e.rdkafka_error_code()),
                        error: format!("commit_transaction: {e}"),
                    })
                }
            }
        }
    }

    /// After a failed batch: abort if the transaction can be aborted, else
    /// start a new producer. Returns whether the producer is usable.
    async fn after_failed_commit(&mut self, timeout: Duration) -> Result<(), String> {
        let p = self.producer.clone();
        let aborted =
            tokio::task::spawn_blocking(move || p.abort_transaction(Timeout::After(timeout)))
                .await
                .map_err(|e| e.to_string())?;
        match aborted {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::debug!("abort_transaction failed ({e}); recreating the producer");
                self.recreate(timeout).await
            }
        }
    }

    async fn recreate(&mut self, timeout: Duration) -> Result<(), String> {
        let fresh = create_producer(self.job, self.inbox.reports()).map_err(|e| e.to_string())?;
        self.replace_producer(fresh).await;
        self.init_transactions(timeout).await
    }

    /// Puts a new producer in place and drops the old one (its last handle).
    async fn replace_producer(&mut self, fresh: Client) {
        let old = std::mem::replace(&mut self.producer, Arc::new(fresh));
        if let Err(e) = drop_producer(old).await {
            tracing::debug!("dropping the old producer: {e}");
        }
    }

    /// `producer.flush()`: waits until every record has a result (librdkafka
    /// bounds this by `message.timeout.ms`), while callbacks keep coming.
    ///
    /// Not rust-rdkafka's `flush()`: beside a thread that serves the
    /// delivery reports it polls in 100 ms steps, so it returned 100–180 ms
    /// after the last one (BENCHMARKS.md). Here the
    /// client's queue is watched every millisecond instead: it is empty
    /// once every message's delivery report has been served (its callback
    /// run), in flight or queued alike.
    async fn flush(&mut self) {
        let limit = self.job.spec.message_timeout() + Duration::from_secs(30);
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = self.producer.in_flight_count();
            if left <= 0 {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    "flush: {left} records still without a result after {}",
                    humantime::format_duration(limit)
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::produce::gate::FaultGate;
    use crate::spec::Profile;

    #[test]
    fn a_commit_that_timed_out_may_have_committed() {
        for code in [
            RDKafkaErrorCode::OperationTimedOut,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::TimedOutQueue,
        ] {
            assert_eq!(
                commit_failure_persistence(Some(code)),
                Persistence::PossiblyPersisted,
                "{code:?}"
            );
        }
        for code in [
            Some(RDKafkaErrorCode::InvalidTransactionalState),
            Some(RDKafkaErrorCode::ProducerFenced),
            Some(RDKafkaErrorCode::Fatal),
            None,
        ] {
            assert_eq!(
                commit_failure_persistence(code),
                Persistence::NotPersisted,
                "{code:?}"
            );
        }
    }

    /// A job for topic `t`; its bootstrap address is never dialled (the
    /// mock cluster's settings win, or nothing is sent).
    fn job_on<'a>(spec: &'a ExperimentSpec, gate: &'a FaultGate) -> ProduceJob<'a> {
        ProduceJob {
            spec,
            bootstrap: "127.0.0.1:9",
            topic: "t",
            origin: Instant::now(),
            gate,
        }
    }

    /// librdkafka's mock cluster (no Kafka; an engine test): every mode
    /// that reads delivery reports records one outcome per record, all
    /// acked, through the report box.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_mode_records_every_report_on_a_mock_cluster() {
        for (mode, records, extra) in [
            ("async", 2000, ""),
            ("sync", 50, ""),
            ("transactional", 40, "transaction_size = 10\n"),
        ] {
            let text = format!(
                "description = \"t\"\nmode = \"{mode}\"\nrecords = {records}\n\
                 pause = \"0ms\"\n{extra}\
                 [client]\n\"test.mock.num.brokers\" = \"1\"\n"
            );
            let spec =
                ExperimentSpec::parse("t", Path::new("experiments/t.toml"), &text, Profile::Full)
                    .unwrap();
            let gate = FaultGate::open();
            let job = job_on(&spec, &gate);
            let mut seen = 0;
            let mut observer = |count: u64, _at: f64| seen = count;
            let produced =
                tokio::time::timeout(Duration::from_secs(60), produce(job, &mut observer))
                    .await
                    .expect("ends")
                    .unwrap();
            assert_eq!(seen, records, "{mode}");
            let ledger = &produced.ledger;
            assert_eq!(ledger.len() as u64, records, "{mode}");
            assert_eq!(
                ledger.count(crate::model::ledger::Told::Acked) as u64,
                records,
                "{mode}: every record acked"
            );
            assert_eq!(produced.late_reports, 0, "{mode}");
        }
    }

    #[tokio::test]
    async fn a_replaced_producer_has_no_handle_left() {
        let spec = ExperimentSpec::parse(
            "t",
            Path::new("experiments/t.toml"),
            "description = \"t\"\nmode = \"transactional\"\nrecords = 1\n",
            Profile::Full,
        )
        .unwrap();
        let gate = FaultGate::open();
        let job = job_on(&spec, &gate);
        let mut run = Run::start(&job).unwrap();
        let first = Arc::downgrade(&run.producer);
        let fresh = create_producer(&job, run.inbox.reports()).unwrap();
        run.replace_producer(fresh).await;
        assert!(
            first.upgrade().is_none(),
            "the first producer is gone once replaced"
        );
        let second = Arc::downgrade(&run.producer);
        run.finish().await.unwrap();
        assert!(
            second.upgrade().is_none(),
            "closed when the application ends"
        );
    }
}
