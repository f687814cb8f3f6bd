//! Cleanup that holds: a harness interrupted with SIGINT leaves no broker
//! process or container behind; one killed with SIGKILL leaves nothing its
//! successor cannot remove; an interrupted run keeps finished results, with
//! one experiment at a time and with `--jobs 2`.

mod common;

use common::Harness;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Starts `kafka-chaos broker …` and waits for its `ready` line.
/// Returns the child and the broker id it printed (container id or pid).
fn start_broker(args: &[&str]) -> (Harness, String) {
    let mut child = Harness(
        Command::new(common::bin())
            .arg("broker")
            .args(args)
            .current_dir(common::root())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("harness starts"),
    );
    let stdout = child.stdout.take().unwrap();
    let mut id = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ready in ") {
            id = rest
                .rsplit_once("id ")
                .map(|(_, id)| id.trim_end_matches(')').to_string());
            break;
        }
    }
    let id = id.unwrap_or_else(|| panic!("no ready line from the broker command"));
    (child, id)
}

/// `kafka-chaos cleanup`, which must succeed.
fn cleanup() -> std::process::Output {
    let out = Command::new(common::bin())
        .arg("cleanup")
        .current_dir(common::root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    out
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    match common::exited_within(child, within) {
        Some(status) => status.code(),
        None => {
            let _ = child.kill();
            panic!("harness did not exit within {within:?}");
        }
    }
}

fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < within {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what}: not within {within:?}");
}

fn container_exists(id: &str) -> bool {
    !common::podman(&["ps", "-a", "-q", "--filter", &format!("id={id}")])
        .trim()
        .is_empty()
}

/// A test that fails while its harness runs does not leave the harness
/// (and its broker) behind: `common::Harness` interrupts it as it drops.
#[test]
fn a_failed_test_leaves_no_harness_behind() {
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let (child, pid) = start_broker(&["--backend", "process"]);
        tx.send((child.id(), pid.parse::<u32>().expect("pid")))
            .unwrap();
        panic!("a failed assertion while the harness runs");
    })
    .join();
    assert!(failed.is_err(), "the test thread failed");
    let (harness, broker) = rx.recv().expect("the harness started");
    assert!(!common::alive(harness), "the harness ended with the test");
    eventually("the broker JVM is gone", Duration::from_secs(10), || {
        !common::alive(broker)
    });
}

#[test]
fn sigint_removes_the_process_broker() {
    let (mut child, pid) = start_broker(&["--backend", "process"]);
    let pid: u32 = pid.parse().expect("pid");
    assert!(common::alive(pid), "broker JVM runs");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), Some(0));
    eventually("the broker JVM is gone", Duration::from_secs(10), || {
        !common::alive(pid)
    });
}

#[test]
fn sigint_removes_the_broker_container() {
    let (mut child, id) = start_broker(&["--backend", "container"]);
    assert!(container_exists(&id), "container {id} exists");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(90)), Some(0));
    assert!(!container_exists(&id), "container {id} removed");
}

/// Mount points of power-loss storage in the mount table (any harness's).
fn lazyfs_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.contains(kafka_chaos::infra::lazyfs::volumes::FOLDER_PREFIX))
        .map(String::from)
        .collect()
}

/// A broker on power-loss storage: Ctrl+C unmounts it and removes its
/// folder; SIGKILL leaves no mount (`auto_unmount`), and `cleanup` removes
/// the folder.
#[test]
fn interrupted_or_killed_power_loss_storage_stays_mounted_nowhere() {
    for signal in [Signal::SIGINT, Signal::SIGKILL] {
        let before = lazyfs_mounts();
        let (mut child, _pid) = start_broker(&["--backend", "process", "--storage", "lazyfs"]);
        let ours: Vec<String> = lazyfs_mounts()
            .into_iter()
            .filter(|m| !before.contains(m))
            .collect();
        assert_eq!(ours.len(), 1, "one mount for the one node: {ours:?}");
        let folder = std::path::Path::new(&ours[0])
            .ancestors()
            .find(|p| {
                p.file_name().is_some_and(|n| {
                    n.to_string_lossy()
                        .starts_with(kafka_chaos::infra::lazyfs::volumes::FOLDER_PREFIX)
                })
            })
            .expect("the mount lives in the harness's folder")
            .to_path_buf();
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let code = wait_exit(&mut child, Duration::from_secs(60));
        if signal == Signal::SIGINT {
            assert_eq!(code, Some(0));
        } else {
            cleanup();
        }
        eventually(
            &format!("no mount left after {signal}"),
            Duration::from_secs(15),
            || !lazyfs_mounts().iter().any(|m| ours.contains(m)),
        );
        eventually(
            &format!("{} removed after {signal}", folder.display()),
            Duration::from_secs(15),
            || !folder.exists(),
        );
    }
}

#[test]
fn sigkill_leaves_no_process_broker() {
    let (mut child, pid) = start_broker(&["--backend", "process"]);
    let pid: u32 = pid.parse().expect("pid");
    // The JVM's last argument: server.properties in the node's work folder.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the JVM's command line");
    let props = String::from_utf8_lossy(&cmdline)
        .split('\0')
        .rfind(|a| a.ends_with("server.properties"))
        .map(std::path::PathBuf::from)
        .expect("server.properties on the command line");
    let work = props.parent().expect("work folder").to_path_buf();
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    let _ = child.wait();
    // The kernel sends the broker the parent-death signal.
    eventually(
        "the orphaned broker JVM is gone",
        Duration::from_secs(15),
        || !common::alive(pid),
    );
    assert!(
        work.is_dir(),
        "a SIGKILLed harness cannot delete {}",
        work.display()
    );
    let out = cleanup();
    assert!(!work.exists(), "cleanup deleted {}", work.display());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&*work.to_string_lossy()),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn sigkill_leftover_container_is_removed_by_cleanup() {
    let (mut child, id) = start_broker(&["--backend", "container"]);
    child.kill().unwrap();
    let _ = child.wait();
    assert!(container_exists(&id), "a SIGKILLed harness cannot clean up");
    let out = cleanup();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("broker containers removed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!container_exists(&id), "cleanup removed container {id}");
}

#[test]
fn interrupted_experiment_run_exits_130_and_keeps_finished_results() {
    let results = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::bin())
        .args([
            "experiment",
            "async",
            "fire-and-forget",
            "--profile",
            "quick",
            "--jobs",
            "1",
            "--results",
            results.path().to_str().unwrap(),
        ])
        .current_dir(common::root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(Harness)
        .unwrap();
    // Interrupt while the second experiment runs.
    let stderr = child.stderr.take().unwrap();
    let mut run_label = None;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(p) = line.strip_prefix("results go to ") {
            run_label = Some(
                std::path::Path::new(p)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string(),
            );
        }
        if line.starts_with("[2/2]") {
            break;
        }
    }
    let run_id = run_label.expect("run folder announced");
    interrupt_and_check_kept(&mut child, results.path(), &run_id, "fire-and-forget");
}

#[test]
fn interrupted_parallel_run_removes_every_broker_and_keeps_finished_results() {
    let results = tempfile::tempdir().unwrap();
    // async ends in seconds; sync (full profile) runs for more than a minute.
    let mut child = Command::new(common::bin())
        .args([
            "experiment",
            "async",
            "sync",
            "--jobs",
            "2",
            "--results",
            results.path().to_str().unwrap(),
        ])
        .current_dir(common::root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(Harness)
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut run_label = None;
    let mut started = 0;
    let mut async_done = false;
    // Every container of the run seen while it starts both experiments: the
    // two jobs each start a broker of their own (one job would reuse its
    // broker for the second spec of the same shape). Sampled at every line,
    // since `async` may end before `sync` starts, and its job then removes
    // its broker.
    let mut brokers_seen = std::collections::BTreeSet::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(p) = line.strip_prefix("results go to ") {
            run_label = Some(
                std::path::Path::new(p)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string(),
            );
        }
        if let Some(id) = run_label.as_deref() {
            brokers_seen.extend(common::containers_with_label(&format!(
                "kafka-chaos.run=run-{id}"
            )));
        }
        if line.starts_with("[1/2]") || line.starts_with("[2/2]") {
            started += 1;
        }
        async_done |= line.contains("[async] done:");
        if async_done && started == 2 {
            break;
        }
    }
    assert_eq!(started, 2, "both experiments started");
    assert_eq!(
        brokers_seen.len(),
        2,
        "one broker per job: {brokers_seen:?}"
    );
    let run_id = run_label.expect("run folder announced");
    interrupt_and_check_kept(&mut child, results.path(), &run_id, "sync");
}
/// Interrupts a run once `async` has finished and `interrupted` is under
/// way, and checks what it kept: exit 130, `async` in the summary, its
/// records and its row on the page, `interrupted` named as interrupted, and
/// no container of the run.
fn interrupt_and_check_kept(
    child: &mut Child,
    results: &std::path::Path,
    run_id: &str,
    interrupted: &str,
) {
    std::thread::sleep(Duration::from_secs(1));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(wait_exit(child, Duration::from_secs(120)), Some(130));

    let folder = results.join(run_id);
    let summary = std::fs::read_to_string(folder.join("summary.csv")).expect("summary kept");
    assert!(
        summary.lines().any(|l| l.starts_with("async,")),
        "{summary}"
    );
    assert!(folder.join("async.records.csv").exists());
    // The page too: the finished experiment, and what was interrupted.
    let page = std::fs::read_to_string(folder.join("report.html")).expect("report.html kept");
    assert!(page.contains("<tr data-experiment=\"async\">"), "{page}");
    assert!(
        page.contains(&format!("<b>{interrupted}</b>: interrupted")),
        "{page}"
    );
    assert!(
        common::containers_with_label(&format!("kafka-chaos.run=run-{run_id}")).is_empty(),
        "no container of the run remains"
    );
}
