//! The tutorial's scenarios on real Kafka (quick profile), each checked
//! against an independent consumer (kcat) reading the same topic.

mod common;

use std::collections::HashSet;
use std::process::Command;

use kafka_chaos::broker::Backend;
use kafka_chaos::model::result::ExperimentResult;
use kafka_chaos::model::verdict::Verdict;
use kafka_chaos::produce::payload::parse_payload;

/// Runs one shipped spec on a fresh broker and cross-checks the persisted
/// count with kcat before the broker goes away.
async fn run_shipped(name: &str) -> ExperimentResult {
    let (_, result, broker, topic) = common::run_shipped_keep(name, Backend::Container).await;

    // An independent consumer reads the same topic to its end.
    let out = Command::new("kcat")
        .args(["-C", "-b", broker.bootstrap(), "-t", &topic])
        .args(["-o", "beginning", "-e", "-q", "-f", "%s\\n"])
        .output()
        .expect("kcat runs (installed by make setup)");
    assert!(
        out.status.success(),
        "kcat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let distinct: HashSet<u64> = lines
        .iter()
        .filter_map(|l| parse_payload(&topic, l.as_bytes()))
        .collect();
    let c = &result.verification.counts;
    assert_eq!(
        distinct.len() as u64,
        c.persisted,
        "{name}: kcat sees the persisted records"
    );
    assert_eq!(
        lines.len() as u64,
        c.consumed,
        "{name}: kcat sees every copy"
    );
    broker.remove().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fire_and_forget_loses_records_silently() {
    let r = run_shipped("fire-and-forget").await;
    let c = &r.verification.counts;
    assert_eq!(
        c.unreported, c.sent,
        "fire-and-forget is never told anything"
    );
    assert!(
        c.silent_loss > 0,
        "records sent while the broker was down are gone: {c:?}"
    );
    assert!(
        c.unreported_ok > 0,
        "records before the fault were written: {c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_reports_every_record_that_did_not_persist() {
    let r = run_shipped("sync").await;
    let c = &r.verification.counts;
    assert_eq!(c.silent_loss, 0, "{c:?}");
    assert_eq!(c.lost, 0, "{c:?}");
    assert_eq!(c.unreported, 0, "sync waits for every result: {c:?}");
    assert!(c.failed > 0, "the outage was noticed: {c:?}");
    for rec in &r.verification.records {
        if rec.found == 0 {
            assert_eq!(rec.verdict, Verdict::ReportedLoss, "record {}", rec.seq);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_with_error_reports_failures_through_the_callback() {
    let r = run_shipped("async-with-error").await;
    let c = &r.verification.counts;
    assert_eq!(c.silent_loss, 0, "{c:?}");
    assert_eq!(c.lost, 0, "{c:?}");
    assert!(c.failed > 0, "the error callback fired: {c:?}");
    assert!(
        r.ledger
            .entries
            .iter()
            .any(|e| matches!(&e.outcome, kafka_chaos::model::ledger::Outcome::Failed { error, .. } if error.contains("timed out"))),
        "failures carry librdkafka's error"
    );
}
