//! How many experiments a machine can run at once (the default of
//! `--jobs`): one more than it has cores, and no more than its available
//! memory holds when every job runs the largest cluster the selected specs
//! ask for; and how many broker nodes may run at once over all jobs (four
//! per core with the client compiler, two with the JVM's default).
//!
//! A chaos experiment mostly waits (pauses, downtimes, restarts), so cores
//! are not what it spends; but a broker starting or recovering takes a
//! core for seconds, and a producer whose sends are delayed by a busy CPU
//! changes the very timing an experiment measures. Nodes count too: every
//! node of a cluster starts (and restarts after a fault) at the same
//! moment. Measured on 2 cores (run `20261130-025219-7447`): two jobs each
//! starting a 5-node cluster (ten JVMs, the JVM's default compilers) did
//! not get ready within 120 s, and a 3-node cluster restarting after a
//! power cut beside them did not either. With the client compiler a start
//! costs 40 % less CPU: three nodes per core ran the quick matrix in 9m16s
//! instead of 10m51s (runs `20261130-164006-26252`,
//! `20261130-155430-11667`), and four per core with three jobs in 7m49s
//! and 7m35s, the cores 55 % busy, every check passed in each (runs
//! `20261130-211519-13836`, `20261130-212331-2243`). Three jobs fill 8
//! slots as a 5-node and a 3-node cluster, a 5-node one beside two
//! brokers, or two 3-node ones beside a broker; a job whose next cluster
//! does not fit waits, holding nothing.
//! Memory is the hard limit (no swap: a JVM that does not fit is killed).

use crate::broker::Jit;

/// What one broker node may hold resident, in bytes. Measured (see
/// BENCHMARKS.md, "Memory per broker"): a KRaft node with `-Xmx512m
/// -Xms512m` holds 350–400 MiB (VmRSS) through the shipped experiments, on
/// either backend, of which about 180 MiB is not heap in use; a node whose
/// heap fills up would hold about 512 + 180 MiB. Rounded up to 768 MiB.
pub const NODE_MEMORY: u64 = 768 * 1024 * 1024;

/// What the harness itself needs per job (producer, ledger, read-back,
/// charts of a 100,000-record experiment), in bytes.
pub const JOB_OVERHEAD: u64 = 256 * 1024 * 1024;

/// Jobs for `cores` cores and `available` bytes of memory (unknown: only
/// the cores decide) when a job runs up to `nodes` broker nodes at once:
/// one more than the cores. At least 1.
pub fn default_jobs(cores: usize, available: Option<u64>, nodes: usize) -> usize {
    let per_job = nodes.max(1) as u64 * NODE_MEMORY + JOB_OVERHEAD;
    let by_memory = available.map_or(usize::MAX, |m| (m / per_job) as usize);
    (cores.max(1) + 1).min(by_memory).max(1)
}

/// Broker nodes that may run at once over all jobs on `cores` cores, with
/// broker JVMs that compile as `jit` says: a job takes as many slots as its
/// cluster has nodes (at most all of them) before it starts it, and gives
/// them back when it removes it. On 2 cores with quick JVMs (8 slots) a
/// 5-node cluster runs beside a 3-node one (or, with three jobs, beside
/// two brokers) and two 3-node clusters beside a broker; with full ones (4
/// slots) a 5-node cluster runs alone.
/// `setting` (`KAFKA_CHAOS_NODE_SLOTS`, `infra::slots::slots_setting`)
/// wins, so one figure bounds both a run's jobs and every process
/// together (`infra::slots`); 0 is no limit.
pub fn node_slots(cores: usize, jit: Jit, setting: Option<usize>) -> usize {
    setting.unwrap_or(cores.max(1) * jit.nodes_per_core())
}

/// The slots a cluster of `nodes` nodes takes out of `slots`.
pub fn slots_for(nodes: usize, slots: usize) -> usize {
    nodes.clamp(1, slots.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    #[test]
    fn cores_and_memory_both_limit() {
        // This machine: 2 cores, about 20 GiB available.
        assert_eq!(default_jobs(2, Some(20 * GIB), 1), 3);
        assert_eq!(default_jobs(2, Some(20 * GIB), 5), 3);
        assert_eq!(default_jobs(16, Some(20 * GIB), 1), 17);
        assert_eq!(default_jobs(32, Some(20 * GIB), 1), 20);
        assert_eq!(default_jobs(16, Some(20 * GIB), 5), 5);
        assert_eq!(default_jobs(8, Some(2 * GIB), 3), 1, "never below 1");
        assert_eq!(default_jobs(4, None, 3), 5);
        assert_eq!(default_jobs(0, None, 1), 2, "no core known: one, plus one");
    }

    #[test]
    fn nodes_take_slots_and_a_large_cluster_runs_alone() {
        // Two cores, full JVMs: four nodes at once.
        assert_eq!(node_slots(2, Jit::Full, None), 4);
        assert_eq!(slots_for(1, 4), 1);
        assert_eq!(slots_for(3, 4), 3, "a 3-node cluster beside one broker");
        assert_eq!(slots_for(5, 4), 4, "a 5-node cluster takes every slot");
        assert_eq!(slots_for(0, 4), 1);
        assert_eq!(node_slots(0, Jit::Full, None), 2);
    }

    #[test]
    fn quick_jvms_fit_four_to_a_core() {
        // Two cores, quick JVMs: eight nodes at once.
        assert_eq!(node_slots(2, Jit::Quick, None), 8);
        assert_eq!(
            slots_for(5, 8) + slots_for(3, 8),
            8,
            "5 nodes beside a 3-node cluster"
        );
        assert!(
            slots_for(3, 8) * 2 + slots_for(1, 8) <= 8,
            "two 3-node clusters beside a broker"
        );
        assert!(
            slots_for(5, 8) + slots_for(1, 8) * 2 <= 8,
            "a 5-node cluster beside two brokers"
        );
        assert_eq!(node_slots(0, Jit::Quick, None), 4);
    }

    #[test]
    fn the_machine_setting_bounds_the_run_too() {
        // KAFKA_CHAOS_NODE_SLOTS: the run's jobs share what the machine's
        // pool allows (it used to bound only the pool, so a run kept 6).
        assert_eq!(node_slots(2, Jit::Quick, Some(5)), 5);
        assert_eq!(node_slots(2, Jit::Full, Some(3)), 3);
        assert_eq!(node_slots(2, Jit::Quick, Some(0)), 0, "no limit");
    }
}
