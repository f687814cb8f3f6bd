//! The fault gate: where the producer hands off to the fault side, so that a
//! fault lands at the record the spec names, whatever the pacing.
//!
//! The runner creates a [`FaultGate`] with the trigger points (record
//! counts, in order; one per fault asked for) and keeps the [`FaultSide`].
//! The producer reports every record it hands to the client
//! ([`FaultGate::sent`]); when the count reaches a trigger point it sends a
//! [`HandOffRequest`] to the fault side and waits — bounded — until the
//! fault side says the fault is in force ([`HandOffRequest::in_force`]),
//! then goes on. Without the gate, a producer that never yields (no pause)
//! would send every record before the fault side could run.
//!
//! Both sides share [`Progress`]: records handed to the client and records
//! acknowledged so far, which the fault side reads when the fault is in
//! force. What happened at each trigger point ([`HandOff`]) is kept for the
//! runner's integrity check.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::model::integrity::HandOff;

/// How long a producer waits at a trigger point for the fault to be in
/// force before it goes on without it (the experiment is then not
/// verified).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Counters the producer keeps and the fault side reads.
#[derive(Debug, Default)]
pub struct Progress {
    sent: AtomicU64,
    acked: AtomicU64,
}

impl Progress {
    /// Records handed to the client so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Records acknowledged so far (delivery reports of success; an
    /// external producer's `ack` lines).
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    pub fn set_sent(&self, n: u64) {
        self.sent.store(n, Ordering::SeqCst);
    }

    pub fn set_acked(&self, n: u64) {
        self.acked.store(n, Ordering::SeqCst);
    }

    /// One more record acknowledged (from a delivery callback).
    pub fn add_acked(&self) {
        self.acked.fetch_add(1, Ordering::SeqCst);
    }
}

/// The producer reached a trigger point and waits: the fault side acts,
/// then calls [`HandOffRequest::in_force`]. Dropped without it (the
/// injection failed), the producer goes on at once.
#[derive(Debug)]
pub struct HandOffRequest {
    /// Which trigger point (0 for the first).
    pub index: usize,
    /// Its record count.
    pub point: u64,
    resume: oneshot::Sender<()>,
}

impl HandOffRequest {
    /// The fault is in force: the producer goes on.
    pub fn in_force(self) {
        let _ = self.resume.send(());
    }
}

/// The runner's end of the gate: hand-offs arrive here, in order.
#[derive(Debug)]
pub struct FaultSide {
    rx: mpsc::UnboundedReceiver<HandOffRequest>,
    progress: Arc<Progress>,
}

impl FaultSide {
    /// The next hand-off, or `None` once the producer has ended (it will
    /// reach no more trigger points).
    pub async fn next(&mut self) -> Option<HandOffRequest> {
        self.rx.recv().await
    }

    /// The producer's counters.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }
}

/// The producer's end of the gate (see the module's documentation).
#[derive(Debug)]
pub struct FaultGate {
    points: Vec<u64>,
    next: AtomicUsize,
    progress: Arc<Progress>,
    tx: Mutex<Option<mpsc::UnboundedSender<HandOffRequest>>>,
    wait: Duration,
    outcomes: Mutex<Vec<HandOff>>,
}

impl FaultGate {
    /// A gate with trigger points (record counts; sorted here), and how
    /// long the producer waits at each for the fault to be in force.
    pub fn new(mut points: Vec<u64>, wait: Duration) -> (FaultGate, FaultSide) {
        points.sort_unstable();
        let (tx, rx) = mpsc::unbounded_channel();
        let progress = Arc::new(Progress::default());
        let gate = FaultGate {
            outcomes: Mutex::new(vec![HandOff::NotReached; points.len()]),
            points,
            next: AtomicUsize::new(0),
            progress: progress.clone(),
            tx: Mutex::new(Some(tx)),
            wait,
        };
        (gate, FaultSide { rx, progress })
    }

    /// A gate that never stops the producer (no fault).
    pub fn open() -> FaultGate {
        FaultGate::new(Vec::new(), DEFAULT_WAIT).0
    }

    /// The counters the producer keeps.
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// The trigger points not handed off yet, in order.
    pub fn pending_points(&self) -> Vec<u64> {
        self.points
            .get(self.next.load(Ordering::SeqCst)..)
            .map(<[u64]>::to_vec)
            .unwrap_or_default()
    }

    /// Whether `sent` records reach a trigger point not handed off yet.
    pub fn due(&self, sent: u64) -> bool {
        self.points
            .get(self.next.load(Ordering::SeqCst))
            .is_some_and(|p| sent >= *p)
    }

    /// `count` records have been handed to the client. At a trigger point,
    /// hands off and waits until the fault is in force (or the wait ends).
    pub async fn sent(&self, count: u64) {
        self.progress.set_sent(count);
        if self.due(count) {
            self.hand_off_due().await;
        }
    }

    /// Hands off every trigger point the count of records sent has
    /// reached, in order, each waited for.
    pub async fn hand_off_due(&self) {
        while self.due(self.progress.sent()) {
            let index = self.next.fetch_add(1, Ordering::SeqCst);
            let point = self.points[index];
            let outcome = self.hand_off(index, point).await;
            tracing::debug!(point, ?outcome, "fault gate");
            if let Ok(mut o) = self.outcomes.lock() {
                o[index] = outcome;
            }
        }
    }

    async fn hand_off(&self, index: usize, point: u64) -> HandOff {
        let (resume, resumed) = oneshot::channel();
        let request = HandOffRequest {
            index,
            point,
            resume,
        };
        let sent = match self.tx.lock() {
            Ok(tx) => tx.as_ref().is_some_and(|tx| tx.send(request).is_ok()),
            Err(_) => false,
        };
        if !sent {
            return HandOff::Abandoned;
        }
        match tokio::time::timeout(self.wait, resumed).await {
            Ok(Ok(())) => HandOff::InForce,
            Ok(Err(_)) => HandOff::Abandoned,
            Err(_) => {
                tracing::warn!(
                    "the fault after record {point} was not in force within {}; the producer goes on",
                    humantime::format_duration(self.wait)
                );
                HandOff::TimedOut(self.wait.as_secs_f64())
            }
        }
    }

    /// The producer has ended: the fault side learns that no more
    /// hand-offs will come.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }

    /// What happened at each trigger point, in order.
    pub fn outcomes(&self) -> Vec<HandOff> {
        match self.outcomes.lock() {
            Ok(o) => o.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hand_offs_come_in_order_and_the_producer_waits_for_each() {
        let (gate, mut side) = FaultGate::new(vec![5, 2], Duration::from_secs(5));
        let gate = Arc::new(gate);
        let g = gate.clone();
        let producer = tokio::spawn(async move {
            let mut log = Vec::new();
            for n in 1..=6 {
                g.sent(n).await;
                log.push(n);
            }
            g.close();
            log
        });
        let mut seen = Vec::new();
        while let Some(req) = side.next().await {
            // The producer stands at the trigger point until the fault is in force.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(side.progress().sent(), req.point);
            seen.push((req.index, req.point));
            req.in_force();
        }
        assert_eq!(seen, [(0, 2), (1, 5)]);
        assert_eq!(producer.await.unwrap(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(gate.outcomes(), [HandOff::InForce, HandOff::InForce]);
    }

    #[tokio::test]
    async fn a_jump_past_several_points_hands_off_each() {
        let (gate, mut side) = FaultGate::new(vec![2, 3], Duration::from_secs(5));
        let fault = tokio::spawn(async move {
            let mut points = Vec::new();
            while let Some(req) = side.next().await {
                points.push(req.point);
                req.in_force();
            }
            points
        });
        gate.sent(10).await;
        gate.close();
        assert_eq!(fault.await.unwrap(), [2, 3]);
    }

    #[tokio::test]
    async fn a_silent_fault_side_times_out_and_the_producer_goes_on() {
        let (gate, mut side) = FaultGate::new(vec![1], Duration::from_millis(100));
        let keep = tokio::spawn(async move {
            // Takes the request and never answers (nor drops it) in time.
            let req = side.next().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(req);
        });
        let t = std::time::Instant::now();
        gate.sent(1).await;
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert_eq!(gate.outcomes(), [HandOff::TimedOut(0.1)]);
        keep.abort();
    }

    #[tokio::test]
    async fn a_failed_injection_releases_the_producer_at_once() {
        let (gate, mut side) = FaultGate::new(vec![1], Duration::from_secs(30));
        tokio::spawn(async move {
            if let Some(req) = side.next().await {
                drop(req); // the injection failed
            }
        });
        let t = std::time::Instant::now();
        gate.sent(1).await;
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(gate.outcomes(), [HandOff::Abandoned]);
    }

    #[tokio::test]
    async fn points_never_reached_are_named_and_an_open_gate_never_stops() {
        let (gate, mut side) = FaultGate::new(vec![10], Duration::from_secs(30));
        gate.sent(3).await;
        gate.close();
        assert!(side.next().await.is_none(), "the fault side learns the end");
        assert_eq!(gate.outcomes(), [HandOff::NotReached]);
        let open = FaultGate::open();
        open.sent(0).await;
        open.sent(1_000_000).await;
        assert!(open.outcomes().is_empty());
        assert!(!open.due(u64::MAX));
    }

    #[test]
    fn progress_counts() {
        let p = Progress::default();
        p.set_sent(4);
        p.add_acked();
        p.add_acked();
        assert_eq!((p.sent(), p.acked()), (4, 2));
        p.set_acked(7);
        assert_eq!(p.acked(), 7);
    }
}
