//! Which node(s) a fault hits: a spec's [`Target`] resolved, at the moment
//! of injection, through the cluster's own metadata — the leader of the
//! experiment's partition 0, its followers, the active KRaft controller, a
//! node by id, every node, or one drawn from the spec's seed.

use crate::broker::wire::PartitionState;
use crate::broker::{Broker, BrokerError, BrokerState};
pub use crate::model::result::Leadership;
use crate::spec::Target;

/// What a target resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub nodes: Vec<i32>,
    /// Partition 0's leadership when the target was resolved.
    pub leadership: Option<Leadership>,
}

/// Partition 0's leadership, as a node that is not cut off sees it (an
/// isolated leader keeps reporting itself as leader).
pub async fn leadership(broker: &Broker, topic: &str) -> Option<Leadership> {
    match broker.partition_state(topic).await {
        Ok(parts) => parts.iter().find(|p| p.partition == 0).map(|p| Leadership {
            leader: p.leader,
            epoch: p.leader_epoch,
        }),
        Err(e) => {
            tracing::debug!("leadership of {topic}: {e}");
            None
        }
    }
}

fn partition0(parts: &[PartitionState]) -> Option<&PartitionState> {
    parts.iter().find(|p| p.partition == 0)
}

/// Seeded draws for `random` targets and drawn fault timings (see
/// [`crate::chaos::plan`]): ChaCha8, whose stream for a seed is fixed across
/// platforms and versions, mapped onto a range by a multiply-shift of our
/// own (not `rand`'s range sampling, which may change between its
/// versions), so the same seed draws the same plan.
#[derive(Debug, Clone)]
pub struct Draws(rand_chacha::ChaCha8Rng);

impl Draws {
    pub fn new(seed: u64) -> Self {
        use rand::SeedableRng;
        Draws(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }

    /// The draws of one repetition: the seed's own stream number
    /// `repetition`, so repetitions differ and each can be replayed alone.
    pub fn for_repetition(seed: u64, repetition: u32) -> Self {
        let mut d = Draws::new(seed);
        d.0.set_stream(u64::from(repetition));
        d
    }

    /// The next draw in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.span(n as u64) as usize
    }

    /// The next draw from `low` to `high`, both included.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        match (high - low).checked_add(1) {
            Some(n) => low + self.span(n),
            None => rand::RngCore::next_u64(&mut self.0),
        }
    }

    /// A draw in `0..n`: the high half of a 64×64-bit product (bias below
    /// n / 2^64).
    fn span(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let x = rand::RngCore::next_u64(&mut self.0);
        ((u128::from(x) * u128::from(n)) >> 64) as u64
    }
}

/// Resolves `target` for a fault on `topic`. Process faults need running
/// nodes to hit; the caller checks the nodes' states.
pub async fn resolve(
    broker: &Broker,
    topic: &str,
    target: Target,
    draws: &mut Draws,
) -> Result<Resolved, BrokerError> {
    let ids = broker.node_ids();
    let parts = if ids.len() > 1 {
        broker.partition_state(topic).await.ok()
    } else {
        None
    };
    let p0 = parts.as_deref().and_then(partition0);
    let leadership = p0.map(|p| Leadership {
        leader: p.leader,
        epoch: p.leader_epoch,
    });
    let nodes = if ids.len() == 1 {
        // One broker: every target is that broker.
        ids.clone()
    } else {
        match target {
            Target::All => ids.clone(),
            Target::Broker(n) => vec![n],
            Target::Random => vec![ids[draws.below(ids.len())]],
            Target::Controller => vec![broker.quorum().await?.leader_id],
            Target::Leader => {
                let p = p0.ok_or_else(|| no_partition(topic))?;
                if p.leader < 0 {
                    return Err(BrokerError::Admin(format!(
                        "{topic} partition 0 has no leader to aim at"
                    )));
                }
                vec![p.leader]
            }
            Target::Isr => {
                let p = p0.ok_or_else(|| no_partition(topic))?;
                if p.isr.is_empty() {
                    return Err(BrokerError::Admin(format!(
                        "{topic} partition 0 has an empty ISR"
                    )));
                }
                let mut isr = p.isr.clone();
                isr.sort_unstable();
                isr
            }
            Target::Follower | Target::Followers => {
                let p = p0.ok_or_else(|| no_partition(topic))?;
                let mut followers: Vec<i32> = p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|r| *r != p.leader)
                    .collect();
                // In-sync followers first: a stale one is rarely what a
                // spec means by "a follower".
                followers.sort_by_key(|r| (!p.isr.contains(r), *r));
                if followers.is_empty() {
                    return Err(BrokerError::Admin(format!(
                        "{topic} partition 0 has no follower (replicas {:?})",
                        p.replicas
                    )));
                }
                if target == Target::Follower {
                    followers.truncate(1);
                }
                followers
            }
        }
    };
    Ok(Resolved { nodes, leadership })
}

fn no_partition(topic: &str) -> BrokerError {
    BrokerError::Admin(format!("no metadata for {topic} partition 0"))
}

/// The nodes of `nodes` that are in `state`.
pub fn in_state(broker: &Broker, nodes: &[i32], state: BrokerState) -> Vec<i32> {
    nodes
        .iter()
        .copied()
        .filter(|n| broker.node_state(*n) == state)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_repeat_for_a_seed_and_stay_in_range() {
        let a: Vec<usize> = {
            let mut d = Draws::new(42);
            (0..20).map(|_| d.below(3)).collect()
        };
        let b: Vec<usize> = {
            let mut d = Draws::new(42);
            (0..20).map(|_| d.below(3)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().all(|x| *x < 3));
        assert!(a.contains(&0) && a.contains(&1) && a.contains(&2), "{a:?}");
        let c: Vec<usize> = {
            let mut d = Draws::new(43);
            (0..20).map(|_| d.below(3)).collect()
        };
        assert_ne!(a, c);
    }

    #[test]
    fn repetitions_draw_from_streams_of_their_own() {
        let draw = |seed, rep| {
            let mut d = Draws::for_repetition(seed, rep);
            (0..10).map(|_| d.between(50, 150)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7, 1), draw(7, 1));
        assert_ne!(draw(7, 1), draw(7, 2));
        assert_ne!(draw(7, 1), draw(8, 1));
        assert!(draw(7, 3).iter().all(|x| (50..=150).contains(x)));
        let mut d = Draws::new(1);
        assert_eq!(d.between(5, 5), 5);
        assert!(d.between(0, u64::MAX) > 0 || d.between(0, u64::MAX) > 0);
        // Both ends can come up.
        let mut d = Draws::new(3);
        let v: Vec<u64> = (0..200).map(|_| d.between(1, 3)).collect();
        assert!(v.contains(&1) && v.contains(&3), "{v:?}");
    }
}
