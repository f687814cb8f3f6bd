//! The external backend against a cluster the harness does not run: a
//! 3-node cluster started in another process by `kafka-chaos broker
//! --brokers 3`, whose stdin is a FIFO. The fault commands write to that
//! FIFO (`echo kill {node} > FIFO`, `echo restart {node} > FIFO`), as
//! `kubectl delete pod` would act on a cluster of one's own.
//!
//! Checked: the cluster is reached at its printed node addresses, targets
//! resolve through its metadata, node operations are refused, a topic the
//! harness did not create is neither written to nor deleted, an experiment
//! with a fault through commands runs and records what its commands did,
//! its topics are deleted at the end, and the verdicts are those the
//! harness's own cluster gives on the same spec.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kafka_chaos::broker::external::ExternalConfig;
use kafka_chaos::broker::{Backend, Broker, BrokerConfig, BrokerError};
use kafka_chaos::chaos::target::{self, Draws};
use kafka_chaos::spec::Target;

const SPEC: &str = "tests/fixtures/external/leader-kill.toml";

/// `kafka-chaos broker --brokers 3` in a process of its own, driven through
/// a FIFO on its stdin.
struct HandCluster {
    child: Child,
    fifo: PathBuf,
    nodes: Vec<String>,
    _dir: tempfile::TempDir,
}

impl HandCluster {
    fn start() -> HandCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("control");
        let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success(), "mkfifo failed");
        // Read and write: the broker never sees the end of its input when
        // a command's writer closes the FIFO.
        let stdin = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .expect("open the FIFO");
        let mut child = Command::new(common::bin())
            .args(["broker", "--backend", "process", "--brokers", "3"])
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("kafka-chaos broker starts");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("hand-cluster | {line}");
                let _ = tx.send(line);
            }
        });
        let mut nodes = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_default();
            let line = rx
                .recv_timeout(left)
                .expect("the hand-driven cluster did not become ready");
            if let Some(addr) = line.trim().strip_prefix("node ") {
                if let Some((_, a)) = addr.split_once(": ") {
                    nodes.push(a.to_string());
                }
            }
            if line.starts_with("ready in") {
                break;
            }
        }
        // The rest of its output goes to the test's log.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        assert_eq!(nodes.len(), 3, "three node addresses printed: {nodes:?}");
        HandCluster {
            child,
            fifo,
            nodes,
            _dir: dir,
        }
    }

    fn bootstrap(&self) -> String {
        self.nodes.join(",")
    }

    fn send(&self, line: &str) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.fifo)
            .expect("open the FIFO for writing");
        writeln!(f, "{line}").expect("write to the FIFO");
    }
}

impl Drop for HandCluster {
    fn drop(&mut self) {
        self.send("quit");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn harness(args: &[&str], results: &Path) -> Output {
    Command::new(common::bin())
        .args(args)
        .arg("--results")
        .arg(results)
        .current_dir(common::root())
        .output()
        .expect("harness runs")
}

/// The verdict classes with a count above zero, from a run's summary.json.
fn verdict_classes(results: &Path) -> (BTreeSet<String>, serde_json::Value) {
    let run = std::fs::read_dir(results)
        .expect("results folder")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("summary.json").is_file())
        .expect("a run folder");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let e = summary["experiments"][0].clone();
    let classes = [
        "ok",
        "lost",
        "recovered",
        "reported_loss",
        "unreported_ok",
        "silent_loss",
    ]
    .iter()
    .filter(|k| e["counts"][**k].as_u64().unwrap_or(0) > 0)
    .map(|k| k.to_string())
    .collect();
    (classes, e)
}

fn topics(bootstrap: &str) -> Vec<String> {
    let out = Command::new("kcat")
        .args(["-b", bootstrap, "-L", "-J"])
        .output()
        .expect("kcat runs");
    let md: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    md["topics"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t["topic"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The cluster's topics once none of the harness's (`kafka-chaos-…`) is
/// listed, or after 30 s: a deletion reaches every broker a little after
/// the controller accepted it, and the one kcat asks may lag behind.
fn topics_once_ours_are_gone(bootstrap: &str) -> Vec<String> {
    let mut left = topics(bootstrap);
    for _ in 0..60 {
        if !left.iter().any(|t| t.starts_with("kafka-chaos-")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        left = topics(bootstrap);
    }
    left
}

async fn connect(bootstrap: &str) -> Broker {
    let mut cfg = BrokerConfig::new(Backend::External, "test-external");
    cfg.external = Some(ExternalConfig {
        bootstrap: bootstrap.to_string(),
        client: BTreeMap::new(),
        keep_topics: false,
    });
    cfg.ready_timeout = Duration::from_secs(120);
    Broker::start(&cfg)
        .await
        .unwrap_or_else(|e| panic!("external cluster: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_the_harness_does_not_run_gets_the_same_verdicts_through_commands() {
    let cluster = HandCluster::start();
    let bootstrap = cluster.bootstrap();

    // The library view: the cluster's own node ids, targets through its
    // metadata, no node operation, no foreign topic touched.
    let mut broker = connect(&bootstrap).await;
    assert_eq!(broker.node_ids(), vec![1, 2, 3]);
    assert_eq!(broker.brokers(), 3);
    match broker.kill_nodes(&[2]).await {
        Err(e @ BrokerError::NotOwned { .. }) => {
            assert!(e.to_string().contains("[commands.<fault>]"), "{e}")
        }
        other => panic!("a node operation on an external cluster: {other:?}"),
    }
    let topic = "kafka-chaos-test-external-targets";
    broker
        .create_topic_with(topic, 1, 3, &BTreeMap::new())
        .await
        .expect("a fresh topic");
    let mut draws = Draws::new(1);
    let leader = target::resolve(&broker, topic, Target::Leader, &mut draws)
        .await
        .expect("leader");
    let state = broker
        .partition_state(topic)
        .await
        .expect("partition state");
    assert_eq!(leader.nodes, vec![state[0].leader]);
    assert!(
        state[0].leader_epoch >= 0,
        "epochs over PLAINTEXT: {state:?}"
    );
    let controller = target::resolve(&broker, topic, Target::Controller, &mut draws)
        .await
        .expect("controller (DescribeQuorum)");
    assert_eq!(controller.nodes.len(), 1);
    assert!((1..=3).contains(&controller.nodes[0]), "{controller:?}");
    // A topic the harness did not create: refused, and left alone.
    let foreign = "someone-elses-topic";
    let created = Command::new("kcat")
        .args(["-b", &bootstrap, "-t", foreign, "-P"])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().map(|mut i| writeln!(i, "theirs"));
            c.wait()
        })
        .expect("kcat produces");
    assert!(created.success());
    let err = broker
        .create_topic_with(foreign, 1, 1, &BTreeMap::new())
        .await
        .expect_err("an existing topic is not reused");
    assert!(err.to_string().contains("already exists"), "{err}");
    broker.drop_topic(foreign).await;
    broker.drop_topic(topic).await;
    broker.remove().await;
    let left = topics_once_ours_are_gone(&bootstrap);
    assert!(left.iter().any(|t| t == foreign), "{left:?}");
    assert!(
        !left.iter().any(|t| t.starts_with("kafka-chaos-")),
        "{left:?}"
    );

    // Faults through commands, which drive the other process's nodes.
    let work = tempfile::tempdir().unwrap();
    let faults = work.path().join("faults.toml");
    let fifo = cluster.fifo.display().to_string();
    std::fs::write(
        &faults,
        format!(
            "[commands.hard_shutdown]\ninject = \"echo kill {{node}} > {fifo} && echo killed $KAFKA_CHAOS_NODE_HOST:$KAFKA_CHAOS_NODE_PORT\"\nheal = \"echo restart {{node}} > {fifo}\"\ntimeout = \"10s\"\n"
        ),
    )
    .unwrap();
    let faults_arg = faults.display().to_string();
    let external_args = [
        "experiment",
        SPEC,
        "--backend",
        "external",
        "--bootstrap",
        &bootstrap,
        "--faults",
        &faults_arg,
    ];
    // Without --allow-faults-on: refused before anything runs.
    let refused = harness(&external_args, &work.path().join("refused"));
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--allow-faults-on"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let ext_results = work.path().join("external");
    let mut args = external_args.to_vec();
    args.extend(["--allow-faults-on", "127.0.0.1", "--check"]);
    let ran = harness(&args, &ext_results);
    assert_eq!(
        ran.status.code(),
        Some(0),
        "external run:\n{}\n{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    let (ext_classes, ext) = verdict_classes(&ext_results);
    let window = &ext["faults"][0];
    let commands = window["commands"].as_array().expect("commands recorded");
    assert_eq!(commands.len(), 2, "{window}");
    assert_eq!(commands[0]["phase"], "inject");
    assert_eq!(commands[0]["exit_code"], 0);
    let node = window["nodes"][0].as_i64().expect("the node hit");
    assert_eq!(
        commands[0]["command"],
        format!("echo kill {node} > {fifo} && echo killed $KAFKA_CHAOS_NODE_HOST:$KAFKA_CHAOS_NODE_PORT")
    );
    assert_eq!(
        commands[0]["output"].as_str().unwrap_or_default().trim(),
        format!("killed {}", cluster.nodes[node as usize - 1])
    );
    assert_eq!(commands[1]["phase"], "heal");
    assert!(
        window["settled_at"].is_f64(),
        "the node went down: {window}"
    );
    assert!(window["end"].is_f64(), "the cluster came back: {window}");
    assert_eq!(
        window["leader_before"]["leader"].as_i64(),
        Some(node),
        "{window}"
    );
    // Its topics are gone; the foreign one is still there.
    let left = topics_once_ours_are_gone(&bootstrap);
    assert!(
        !left.iter().any(|t| t.starts_with("kafka-chaos-")),
        "{left:?}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(left.iter().any(|t| t == foreign), "{left:?}");
    drop(cluster);

    // The same spec on the harness's own cluster.
    let own_results = work.path().join("own");
    let ran = harness(
        &["experiment", SPEC, "--backend", "process", "--check"],
        &own_results,
    );
    assert_eq!(
        ran.status.code(),
        Some(0),
        "own run:\n{}\n{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    let (own_classes, own) = verdict_classes(&own_results);
    eprintln!("external: {}", ext["counts"]);
    eprintln!("own:      {}", own["counts"]);
    assert_eq!(ext_classes, own_classes, "the same verdict classes");
    assert_eq!(ext["counts"]["sent"], own["counts"]["sent"]);
}
