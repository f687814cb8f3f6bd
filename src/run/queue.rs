//! The runs not taken yet and the node slots the jobs share: which run a
//! job takes next.
//!
//! A job keeps its cluster for the next run of the same shape. When none
//! is left, it gives the cluster and its slots back and takes, of the runs
//! whose cluster fits in the slots free now, one with the largest cluster
//! (the first in run order among equals). When none fits, it waits until
//! another job gives slots back, holding nothing: a job never sits on a
//! run it cannot start while a smaller one could go in the free slots.
//!
//! Why the largest first: the full matrix (`--jobs 2`, 4 slots) replayed
//! with its measured durations took 1,212 s taking the queue's first run
//! and waiting for its slots, and 1,034 s this way (issue 14 note). With
//! 4 slots the 5-node clusters take every slot, so they run alone in any
//! order; started first, the one-node runs fill the gaps beside the 3-node
//! ones afterwards instead of leaving a job idle at the end. With 8 (quick
//! JVMs on 2 cores) a 3-node cluster goes beside a 5-node one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::capacity::slots_for;
use crate::broker::{Backend, BrokerConfig};

/// The runs of a run not taken yet (indices of its units, in order), each
/// one's broker configuration, and the slots they share.
pub(super) struct RunQueue {
    waiting: Mutex<VecDeque<usize>>,
    /// Per unit: the broker configuration it runs on.
    configs: Vec<BrokerConfig>,
    /// Per unit: the slots its cluster takes.
    needs: Vec<usize>,
    slots: Arc<Semaphore>,
    /// Woken whenever slots are given back.
    released: Arc<Notify>,
}

/// A job's share of the slots, given back (and waiting jobs woken) when
/// dropped.
pub(super) struct Slots {
    permit: Option<OwnedSemaphorePermit>,
    released: Arc<Notify>,
}

impl Drop for Slots {
    fn drop(&mut self) {
        // Give the permits back first, then wake: a woken job must find
        // them free.
        drop(self.permit.take());
        self.released.notify_waiters();
    }
}

impl RunQueue {
    /// Every unit waiting, each on its configuration; `slot_count` node
    /// slots in all.
    pub fn new(configs: Vec<BrokerConfig>, slot_count: usize) -> Self {
        let needs = configs
            .iter()
            .map(|c| slots_for(c.brokers, slot_count))
            .collect();
        RunQueue {
            waiting: Mutex::new((0..configs.len()).collect()),
            configs,
            needs,
            slots: Arc::new(Semaphore::new(slot_count)),
            released: Arc::new(Notify::new()),
        }
    }

    /// The first waiting run of `current`'s shape: it runs on the cluster
    /// the job already has.
    pub fn take_same(&self, current: &BrokerConfig) -> Option<usize> {
        let mut w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let pos = w
            .iter()
            .position(|&u| same_shape(current, &self.configs[u]))?;
        w.remove(pos)
    }

    /// A run whose cluster fits in the free slots ([`choose`]), with its
    /// slots; waits while none fits, calling `waiting` once, before the
    /// first wait, with the free slots and the fewest any run left needs.
    /// `None` when no run is left, or on `stop`. The caller holds no
    /// slots: they would count as taken.
    pub async fn take_fitting(
        &self,
        stop: &CancellationToken,
        waiting: impl FnOnce(usize, usize),
    ) -> Option<(usize, Slots)> {
        let mut waiting = Some(waiting);
        loop {
            // Registered before looking, so a release in between wakes it.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
                if w.is_empty() {
                    return None;
                }
                // Slots are only taken here, under the lock: what is free
                // now is free when taken.
                let free = self.slots.available_permits();
                if let Some(pos) = choose(&w, &self.needs, free) {
                    let unit = w[pos];
                    if let Ok(permit) =
                        Arc::clone(&self.slots).try_acquire_many_owned(self.needs[unit] as u32)
                    {
                        w.remove(pos);
                        let slots = Slots {
                            permit: Some(permit),
                            released: Arc::clone(&self.released),
                        };
                        return Some((unit, slots));
                    }
                }
                if let Some(tell) = waiting.take() {
                    let fewest = w.iter().map(|&u| self.needs[u]).min().unwrap_or(0);
                    tell(free, fewest);
                }
            }
            tokio::select! {
                _ = &mut released => {}
                _ = stop.cancelled() => return None,
            }
        }
    }
}

/// Whether two configurations start the same cluster (a cluster the
/// harness does not run is the same for every spec).
fn same_shape(a: &BrokerConfig, b: &BrokerConfig) -> bool {
    if a.backend == Backend::External && b.backend == Backend::External {
        return true;
    }
    a.brokers == b.brokers
        && a.properties == b.properties
        && a.data_dirs == b.data_dirs
        && a.storage == b.storage
        && a.features == b.features
}

/// Of the `waiting` units, the position of one whose need fits in `free`
/// slots: the largest need, the first in order among equals.
pub(super) fn choose(waiting: &VecDeque<usize>, needs: &[usize], free: usize) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (pos, &u) in waiting.iter().enumerate() {
        let need = needs[u];
        if need <= free && best.is_none_or(|(_, n)| need > n) {
            best = Some((pos, need));
        }
    }
    best.map(|(pos, _)| pos)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config(brokers: usize) -> BrokerConfig {
        BrokerConfig {
            brokers,
            ..BrokerConfig::new(crate::broker::Backend::Process, "t")
        }
    }

    #[test]
    fn the_largest_that_fits_first_in_order_among_equals() {
        let needs = [1, 3, 4, 3, 1];
        let all: VecDeque<usize> = (0..5).collect();
        assert_eq!(choose(&all, &needs, 4), Some(2));
        assert_eq!(choose(&all, &needs, 3), Some(1));
        assert_eq!(choose(&all, &needs, 2), Some(0));
        assert_eq!(choose(&all, &needs, 0), None);
        let later: VecDeque<usize> = [4, 3, 0].into();
        assert_eq!(choose(&later, &needs, 3), Some(1), "unit 3 at position 1");
        assert_eq!(choose(&VecDeque::new(), &needs, 4), None);
    }

    #[test]
    fn a_run_of_the_same_shape_is_taken_first_in_order() {
        let q = RunQueue::new(vec![config(1), config(3), config(3)], 4);
        assert_eq!(q.take_same(&config(3)), Some(1));
        assert_eq!(q.take_same(&config(3)), Some(2));
        assert_eq!(q.take_same(&config(3)), None);
        assert_eq!(q.take_same(&config(5)), None);
    }

    /// A job that finds no run fitting waits, holding nothing, until
    /// another gives its slots back; then it takes the largest that fits.
    #[tokio::test]
    async fn a_job_waits_for_slots_given_back_then_takes_the_largest() {
        let q = Arc::new(RunQueue::new(
            vec![config(3), config(1), config(5), config(1)],
            4,
        ));
        let stop = CancellationToken::new();
        // The 5-node cluster takes all four slots.
        let (first, held) = q.take_fitting(&stop, |_, _| {}).await.unwrap();
        assert_eq!(first, 2);
        let told = Arc::new(Mutex::new(Vec::new()));
        let waiter = {
            let (q, stop, told) = (Arc::clone(&q), stop.clone(), Arc::clone(&told));
            tokio::spawn(async move {
                q.take_fitting(&stop, move |free, fewest| {
                    told.lock().unwrap().push((free, fewest))
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "nothing fits while all slots are held"
        );
        assert_eq!(
            *told.lock().unwrap(),
            vec![(0, 1)],
            "told once: no slot free, the smallest run left needs one"
        );
        drop(held);
        let (next, held3) = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the release")
            .unwrap()
            .unwrap();
        assert_eq!(next, 0, "the 3-node run, before the one-node runs");
        // One slot is left: a one-node run fits beside it at once.
        let (beside, _one) = q.take_fitting(&stop, |_, _| {}).await.unwrap();
        assert_eq!(beside, 1);
        drop(held3);
        let (last, _s) = q.take_fitting(&stop, |_, _| {}).await.unwrap();
        assert_eq!(last, 3);
        assert!(
            q.take_fitting(&stop, |_, _| {}).await.is_none(),
            "no run left"
        );
    }

    #[tokio::test]
    async fn a_waiting_job_ends_on_stop() {
        let q = Arc::new(RunQueue::new(vec![config(3), config(3)], 4));
        let stop = CancellationToken::new();
        let (_, _held) = q.take_fitting(&stop, |_, _| {}).await.unwrap();
        let waiter = {
            let (q, stop) = (Arc::clone(&q), stop.clone());
            tokio::spawn(async move { q.take_fitting(&stop, |_, _| {}).await.is_none() })
        };
        stop.cancel();
        assert!(tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("ends")
            .unwrap());
    }
}
