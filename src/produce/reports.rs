//! The way delivery reports take from librdkafka's report thread to the
//! application: a batch under a lock, and a wake-up for a mode that waits.
//!
//! Not a tokio channel: `perf` on a 1,000,000-record `bench` put about a
//! fifth of the report thread's time in the unbounded channel's send
//! (BENCHMARKS.md, "The producer's own costs"). Here a report is one push
//! onto a `Vec` under an uncontended lock and one atomic store of a wake-up,
//! and the application takes everything that arrived in one swap.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::model::ledger::Outcome;

/// One delivery report: the record's sequence number and what it was told.
pub type Report = (u64, Outcome);

/// Reports that arrived and the application has not taken yet.
#[derive(Default)]
pub struct Reports {
    arrived: Mutex<Vec<Report>>,
    /// Woken at every report; a wake-up with nobody waiting is kept for
    /// the next wait, so a report between `take` and `wait` is not missed.
    wake: Notify,
    /// The application ended: nobody listens, and reports are dropped.
    closed: AtomicBool,
}

impl Reports {
    /// A report arrives (librdkafka's thread). Dropped once [`close`]d.
    ///
    /// [`close`]: Reports::close
    pub fn push(&self, report: Report) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        self.arrived
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(report);
        self.wake.notify_one();
    }

    /// Moves every report that has arrived, in arrival order, to the end
    /// of `into`.
    pub fn take(&self, into: &mut Vec<Report>) {
        let mut arrived = self.arrived.lock().unwrap_or_else(PoisonError::into_inner);
        if into.is_empty() {
            // Swap, so both buffers keep their capacity.
            std::mem::swap(&mut *arrived, into);
        } else {
            into.append(&mut arrived);
        }
    }

    /// Waits until a report arrives, or returns at once if one arrived
    /// since the last wait. May return with nothing new: take, and wait
    /// again.
    pub async fn wait(&self) {
        self.wake.notified().await;
    }

    /// The application stops listening: later reports are dropped, and
    /// those not taken are freed.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let dropped =
            std::mem::take(&mut *self.arrived.lock().unwrap_or_else(PoisonError::into_inner));
        drop(dropped);
    }
}

/// The application's side of [`Reports`]: what it took and has not
/// handled yet (sync mode reads reports one at a time, the others take
/// all), and the buffer batches come over in.
pub struct Inbox {
    reports: Arc<Reports>,
    pending: VecDeque<Report>,
    batch: Vec<Report>,
}

impl Inbox {
    pub fn new(reports: Arc<Reports>) -> Self {
        Inbox {
            reports,
            pending: VecDeque::new(),
            batch: Vec::new(),
        }
    }

    /// The box, for a new producer of the same application.
    pub fn reports(&self) -> Arc<Reports> {
        Arc::clone(&self.reports)
    }

    /// Every report that has arrived and is not handled yet, in order.
    pub fn take_all(&mut self) -> Vec<Report> {
        self.reports.take(&mut self.batch);
        let mut all: Vec<Report> = self.pending.drain(..).collect();
        all.append(&mut self.batch);
        all
    }

    /// The next report, waiting for it until `deadline`; `None` when none
    /// arrived by then.
    pub async fn next(&mut self, deadline: tokio::time::Instant) -> Option<Report> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Some(r);
            }
            self.reports.take(&mut self.batch);
            if !self.batch.is_empty() {
                self.pending.extend(self.batch.drain(..));
                continue;
            }
            tokio::time::timeout_at(deadline, self.reports.wait())
                .await
                .ok()?;
        }
    }

    /// The application ended: see [`Reports::close`].
    pub fn close(&self) {
        self.reports.close();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn acked(offset: i64) -> Outcome {
        Outcome::Acked {
            partition: 0,
            offset,
            at: 0.0,
        }
    }

    #[test]
    fn reports_come_out_in_arrival_order_and_once() {
        let r = Reports::default();
        for s in 0..3 {
            r.push((s, acked(s as i64)));
        }
        let mut got = Vec::new();
        r.take(&mut got);
        r.push((3, acked(3)));
        r.take(&mut got);
        assert_eq!(
            got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        got.clear();
        r.take(&mut got);
        assert!(got.is_empty(), "taken reports are gone");
    }

    #[test]
    fn a_closed_box_drops_what_arrives() {
        let r = Reports::default();
        r.push((0, acked(0)));
        r.close();
        r.push((1, acked(1)));
        let mut got = Vec::new();
        r.take(&mut got);
        assert!(got.is_empty());
    }

    /// A report pushed from another thread between a take and a wait wakes
    /// the wait (the wake-up is kept), and one pushed during the wait too.
    #[tokio::test]
    async fn a_wait_is_woken_by_a_report_from_another_thread() {
        let r = Arc::new(Reports::default());
        let pusher = Arc::clone(&r);
        std::thread::spawn(move || pusher.push((7, acked(7))))
            .join()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), r.wait())
            .await
            .expect("the kept wake-up");
        let pusher = Arc::clone(&r);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            pusher.push((8, acked(8)));
        });
        tokio::time::timeout(Duration::from_secs(5), r.wait())
            .await
            .expect("woken during the wait");
        t.join().unwrap();
        let mut got = Vec::new();
        r.take(&mut got);
        assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [7, 8]);
    }
}
