//! The `power_loss` fault on real Kafka: the broker's log folder sits on
//! the harness's lose-unsynced-writes filesystem (`infra/lazyfs`), the
//! broker is killed and its storage loses power, and the read-back finds
//! what the power cut took. One broker on the container backend (the
//! default: the mount reaches the container through a bind mount), a
//! three-node cluster on the process backend; nothing is left mounted.

mod common;

use kafka_chaos::broker::Backend;
use kafka_chaos::infra::lazyfs::volumes::FOLDER_PREFIX;
use kafka_chaos::model::result::ExperimentResult;

/// Mount points of the power-loss storage of the broker labelled `label`
/// still in the mount table.
fn mounts_of(label: &str) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.contains(FOLDER_PREFIX) && m.contains(label))
        .map(String::from)
        .collect()
}

/// Runs a shipped spec (quick profile) and checks what every power-loss
/// run must show: the fault window holds the power cut of each node hit,
/// and the broker's mounts are gone once it is removed.
async fn run_power_loss(name: &str, backend: Backend) -> ExperimentResult {
    let (spec, result, broker, _topic) = common::run_shipped_keep(name, backend).await;
    let cuts: Vec<_> = result
        .faults
        .iter()
        .filter(|w| w.kind == "power_loss")
        .flat_map(|w| w.power_cut.iter())
        .collect();
    let hit: usize = result
        .faults
        .iter()
        .filter(|w| w.kind == "power_loss")
        .map(|w| w.nodes.len().max(1))
        .sum();
    assert_eq!(
        cuts.len(),
        hit,
        "{name}: a power cut per node hit: {cuts:?}"
    );
    assert!(
        cuts.iter()
            .all(|c| (1..=spec.brokers as i32).contains(&c.node)),
        "{name}: {cuts:?}"
    );
    broker.remove().await;
    assert_eq!(mounts_of(name), Vec::<String>::new(), "{name}: mounts left");
    eprintln!(
        "{name}: {:?}; {}",
        result.verification.counts,
        cuts.iter()
            .map(|c| c.describe())
            .collect::<Vec<_>>()
            .join("; ")
    );
    result
}

/// One broker, acks=all, the default flush policy: what was acknowledged
/// from the page cache is lost with the power, and the application was
/// told every one was written. The log file lost bytes.
#[tokio::test(flavor = "multi_thread")]
async fn acks_all_on_one_broker_loses_acknowledged_records_at_a_power_cut() {
    let r = run_power_loss("power-loss-acksall", Backend::Container).await;
    let c = &r.verification.counts;
    assert!(c.lost > 0, "{c:?}");
    assert_eq!(c.silent_loss, 0, "{c:?}");
    assert!(c.lost <= c.acked, "{c:?}");
    let cut = &r.faults[0].power_cut[0];
    assert!(cut.lost_bytes > 0, "{cut:?}");
    assert!(
        cut.files
            .iter()
            .any(|(path, f)| path.ends_with(".log") && f.bytes > 0),
        "the partition's log lost bytes: {cut:?}"
    );
}

/// The same with an fsync after every append: nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread")]
async fn an_fsync_per_append_survives_the_power_cut() {
    let r = run_power_loss("power-loss-flush-every-message", Backend::Process).await;
    let c = &r.verification.counts;
    assert_eq!(c.lost, 0, "{c:?}");
    assert_eq!(c.silent_loss, 0, "{c:?}");
    assert!(c.acked > 0, "{c:?}");
}

/// RF=3, min.insync.replicas=2: the leader loses power, the followers still
/// hold every acknowledged record; nothing is lost, and the power cut hit
/// exactly the leader.
#[tokio::test(flavor = "multi_thread")]
async fn replication_outlives_the_leaders_power_cut() {
    let r = run_power_loss("power-loss-cluster-leader", Backend::Process).await;
    let c = &r.verification.counts;
    assert_eq!(c.lost, 0, "{c:?}");
    let w = &r.faults[0];
    let leader = w.leader_before.expect("leader before the fault").leader;
    assert_eq!(w.nodes, vec![leader], "{w:?}");
    assert_eq!(w.power_cut[0].node, leader, "{w:?}");
}
