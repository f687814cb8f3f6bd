//! The broker layer against real Kafka, for both backends: durability across
//! graceful and hard restarts on the same address, and pause/resume.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use kafka_chaos::broker::{Backend, BrokerState};
use kafka_chaos::verify::readback::read_topic;

async fn distinct_records(bootstrap: &str, topic: &str) -> usize {
    let records = read_topic(bootstrap, topic, Duration::from_secs(60))
        .await
        .expect("read back");
    records
        .iter()
        .filter_map(|r| r.seq)
        .collect::<HashSet<_>>()
        .len()
}

/// The broker JVM serving `bootstrap` runs with the client compiler only
/// (`--broker-jit quick`, the default): on its command line (process) or
/// in the `JAVA_TOOL_OPTIONS` every JVM of the container reads.
fn assert_quick_jit(bootstrap: &str) {
    const FLAG: &str = "-XX:TieredStopAtLevel=1";
    let read = |pid: &str, what: &str| {
        std::fs::read(format!("/proc/{pid}/{what}"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default()
    };
    let mut seen = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let pid = e.file_name().to_string_lossy().to_string();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let cmdline = read(&pid, "cmdline");
        if !cmdline.contains("kafka.Kafka") {
            continue;
        }
        let environ = read(&pid, "environ");
        let props = cmdline
            .split(' ')
            .find(|a| a.ends_with("server.properties"))
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .unwrap_or_default();
        // Ours: its advertised listener (a property file, or the container's
        // KAFKA_ADVERTISED_LISTENERS) names the bootstrap address.
        let names = |text: &str| {
            text.match_indices(bootstrap).any(|(i, _)| {
                !text[i + bootstrap.len()..].starts_with(|c: char| c.is_ascii_digit())
            })
        };
        if !names(&props) && !names(&environ) {
            continue;
        }
        let quick = cmdline.split(' ').any(|a| a == FLAG)
            || environ.contains(&format!("JAVA_TOOL_OPTIONS={FLAG}"));
        seen.push((pid, quick));
    }
    assert!(!seen.is_empty(), "no broker JVM serving {bootstrap}");
    assert!(seen.iter().all(|(_, q)| *q), "{FLAG} missing: {seen:?}");
}

async fn survives_restarts(backend: Backend) {
    let mut broker = common::start(backend, "durability").await;
    let bootstrap = broker.bootstrap().to_string();
    assert_quick_jit(&bootstrap);
    let topic = "durability";
    broker.create_topic(topic, 3).await.expect("topic");
    let acked = common::produce_acked(&bootstrap, topic, 1000, 30_000).await;
    assert_eq!(acked, 1000, "all 1000 records acknowledged");

    broker.stop().await.expect("graceful stop");
    assert_eq!(broker.state(), BrokerState::Stopped);
    broker
        .restart(Duration::from_secs(180))
        .await
        .expect("restart after stop");
    assert_eq!(broker.bootstrap(), bootstrap, "same address after restart");
    assert_eq!(
        distinct_records(&bootstrap, topic).await,
        1000,
        "after stop + restart"
    );

    broker.kill().await.expect("hard kill");
    broker
        .restart(Duration::from_secs(180))
        .await
        .expect("restart after kill");
    assert_eq!(broker.bootstrap(), bootstrap, "same address after kill");
    assert_eq!(
        distinct_records(&bootstrap, topic).await,
        1000,
        "after kill + restart"
    );
    broker.remove().await;
}

async fn pause_blocks_produce(backend: Backend) {
    let mut broker = common::start(backend, "pause").await;
    let bootstrap = broker.bootstrap().to_string();
    broker.create_topic("paused", 1).await.expect("topic");
    assert_eq!(
        common::produce_acked(&bootstrap, "paused", 1, 10_000).await,
        1
    );

    broker.pause().await.expect("pause");
    assert_eq!(broker.state(), BrokerState::Paused);
    let during = common::produce_acked(&bootstrap, "paused", 1, 2_000).await;
    assert_eq!(during, 0, "a produce with a 2 s timeout fails while paused");

    broker.resume().await.expect("resume");
    let after = common::produce_acked(&bootstrap, "paused", 1, 30_000).await;
    assert_eq!(after, 1, "a produce succeeds after resume");
    broker.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_broker_keeps_acked_records_across_stop_and_kill() {
    survives_restarts(Backend::Container).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_broker_keeps_acked_records_across_stop_and_kill() {
    survives_restarts(Backend::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_broker_pause_blocks_produce_until_resume() {
    pause_blocks_produce(Backend::Container).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_broker_pause_blocks_produce_until_resume() {
    pause_blocks_produce(Backend::Process).await;
}
