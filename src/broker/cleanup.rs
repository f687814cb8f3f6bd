//! Cleanup that holds when the harness is interrupted.
//!
//! Normal exit, error, panic and SIGINT/SIGTERM are handled where brokers are
//! owned (they are removed explicitly or on drop). For a harness killed with
//! SIGKILL: process brokers die with it (parent-death signal), and containers
//! carry the owner's pid and start time as labels, so the next run removes
//! those whose owner is gone ([`reap_leftovers`]); `kafka-chaos cleanup`
//! does the same for processes and containers on demand. A broker whose
//! owner still runs is never touched: concurrent runs (and test binaries)
//! on one host keep theirs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use testcontainers::bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
use testcontainers::bollard::Docker;

use super::{BrokerError, LABEL_PID, LABEL_RUN};

/// Label with the owner's process start time (guards against pid reuse).
pub const LABEL_PID_START: &str = "kafka-chaos.pid-start";

/// The start time of a process, in clock ticks since boot (from /proc).
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    // Fields after the command start at field 3; starttime is field 22.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// This process's identity as a container label value.
pub fn owner_labels() -> Vec<(String, String)> {
    let pid = std::process::id();
    vec![
        (LABEL_PID.to_string(), pid.to_string()),
        (
            LABEL_PID_START.to_string(),
            process_start_time(pid).unwrap_or(0).to_string(),
        ),
    ]
}

/// Is the process that `pid` and `start` describe still alive?
pub fn owner_alive(pid: u32, start: Option<u64>) -> bool {
    match process_start_time(pid) {
        None => false,
        Some(actual) => start.is_none_or(|s| s == 0 || s == actual),
    }
}

/// The folder of the process brokers' pidfiles: in the user's cache
/// (`~/.cache/kafka-chaos/pids/`, mode 0700), not in a shared `/tmp`, since
/// a later run trusts them to find the brokers it must kill.
fn pid_dir() -> PathBuf {
    crate::infra::cache::cache_dir().join("pids")
}

/// Where a process broker's pidfile lives.
pub fn pidfile_path(run_label: &str, port: u16) -> PathBuf {
    pid_dir().join(format!("{run_label}-{port}.pid"))
}

/// Records a process broker: `<broker pid> <owner pid> <owner start>`,
/// and on a second line its work folder (data and log), which a harness
/// killed with SIGKILL cannot delete.
pub fn write_pidfile(path: &Path, broker_pid: u32, work: &Path) {
    let owner = std::process::id();
    let start = process_start_time(owner).unwrap_or(0);
    if let Err(e) = crate::infra::cache::private_dir("pids") {
        tracing::warn!("cannot create the pidfile folder: {e}");
        return;
    }
    let text = format!("{broker_pid} {owner} {start}\n{}\n", work.display());
    if let Err(e) = std::fs::write(path, text) {
        tracing::warn!(path = %path.display(), "cannot write pidfile: {e}");
    }
}

fn is_kafka_process(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("kafka.Kafka"))
        .unwrap_or(false)
}

/// What [`reap_processes`] did.
#[derive(Debug, Default)]
pub struct Reaped {
    /// Broker processes killed.
    pub killed: usize,
    /// Work folders (data and log) of those brokers deleted.
    pub folders: Vec<PathBuf>,
}

/// Kills process brokers whose owner is gone (or all, with `all`), and
/// deletes their work folders.
pub fn reap_processes(all: bool) -> Reaped {
    let mut reaped = Reaped::default();
    let Ok(entries) = std::fs::read_dir(pid_dir()) else {
        return reaped;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut lines = text.lines();
        let f: Vec<u64> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [broker, owner, start] = f[..] else {
            let _ = std::fs::remove_file(&path);
            continue;
        };
        let orphan = !owner_alive(owner as u32, Some(start));
        if all || orphan {
            if is_kafka_process(broker as u32) {
                let _ = kill(Pid::from_raw(broker as i32), Signal::SIGCONT);
                if kill(Pid::from_raw(broker as i32), Signal::SIGKILL).is_ok() {
                    reaped.killed += 1;
                }
            }
            if let Some(work) = lines
                .next()
                .map(PathBuf::from)
                .filter(|w| is_work_folder(w))
            {
                match std::fs::remove_dir_all(&work) {
                    Ok(()) => reaped.folders.push(work),
                    Err(e) => tracing::warn!("cannot delete {}: {e}", work.display()),
                }
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    reaped
}

/// Only a folder the process backend creates (`kafka-chaos-…-node<N>-…`)
/// is deleted on a pidfile's word.
fn is_work_folder(path: &Path) -> bool {
    path.is_dir()
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("kafka-chaos-") && n.contains("-node"))
}

/// How often the container list is asked for before giving up, and the
/// pause between two asks.
const LIST_ATTEMPTS: u32 = 10;
const LIST_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Removes containers of the harness whose owner is gone (or all, with
/// `all`). Returns the names removed.
pub async fn reap_containers(docker: &Docker, all: bool) -> Result<Vec<String>, BrokerError> {
    let mut filters = HashMap::new();
    filters.insert("label".to_string(), vec![LABEL_RUN.to_string()]);
    // Podman reports a container that another run is stopping as
    // "stopped" for a moment, a state bollard's list cannot read ("unknown
    // variant `stopped`"): seen with a second harness process beside. The
    // moment passes, so the list is asked again.
    let mut attempt = 1;
    let list = loop {
        let listed = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await;
        match listed {
            Ok(list) => break list,
            Err(e) if attempt < LIST_ATTEMPTS => {
                tracing::debug!(attempt, "listing containers failed, asking again: {e}");
                attempt += 1;
                tokio::time::sleep(LIST_PAUSE).await;
            }
            Err(e) => {
                return Err(BrokerError::Container {
                    op: "list containers",
                    reason: format!("{e} (asked {LIST_ATTEMPTS} times)"),
                })
            }
        }
    };
    let mut removed = Vec::new();
    for c in list {
        let labels = c.labels.clone().unwrap_or_default();
        let owner: Option<u32> = labels.get(LABEL_PID).and_then(|p| p.parse().ok());
        let start: Option<u64> = labels.get(LABEL_PID_START).and_then(|p| p.parse().ok());
        let orphan = match owner {
            Some(pid) => !owner_alive(pid, start),
            None => true,
        };
        if !(all || orphan) {
            continue;
        }
        let Some(id) = c.id.clone() else { continue };
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first().cloned())
            .unwrap_or_else(|| id.clone());
        match docker
            .remove_container(
                &id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(()) => removed.push(name.trim_start_matches('/').to_string()),
            Err(e) => tracing::warn!(%name, "cannot remove leftover container: {e}"),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        let me = std::process::id();
        let start = process_start_time(me);
        assert!(start.is_some());
        assert!(owner_alive(me, start));
        // Same pid, another start time: pid reuse, so not the owner.
        assert!(!owner_alive(me, start.map(|s| s + 1)));
        assert!(!owner_alive(u32::MAX - 1, None));
    }

    #[test]
    fn pidfiles_live_in_the_users_cache_not_in_tmp() {
        let path = pidfile_path("run-x", 9092);
        assert_eq!(
            path,
            crate::infra::cache::cache_dir().join("pids/run-x-9092.pid")
        );
        assert!(
            !path.starts_with(std::env::temp_dir()),
            "{}",
            path.display()
        );
    }

    #[test]
    fn orphaned_pidfiles_are_removed_without_killing_strangers() {
        // An owner that does not exist, and a "broker" pid that is not Kafka.
        let path = pid_dir().join(format!("test-{}.pid", std::process::id()));
        assert_eq!(crate::infra::cache::private_dir("pids").unwrap(), pid_dir());
        std::fs::write(&path, format!("{} 4294967290 1\n", std::process::id())).unwrap();
        assert_eq!(reap_processes(false).killed, 0);
        assert!(!path.exists());
    }

    #[test]
    fn an_orphans_work_folder_is_deleted_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("kafka-chaos-test-node1-x");
        let other = tmp.path().join("someone-elses");
        for d in [&work, &other] {
            std::fs::create_dir_all(d.join("data")).unwrap();
        }
        crate::infra::cache::private_dir("pids").unwrap();
        let me = std::process::id();
        let orphan = pid_dir().join(format!("test-work-{me}.pid"));
        std::fs::write(&orphan, format!("{me} 4294967290 1\n{}\n", work.display())).unwrap();
        let stranger = pid_dir().join(format!("test-other-{me}.pid"));
        std::fs::write(
            &stranger,
            format!("{me} 4294967290 1\n{}\n", other.display()),
        )
        .unwrap();
        // (Another harness starting beside this test may reap them first.)
        reap_processes(false);
        assert!(!work.exists(), "the orphan's work folder is deleted");
        assert!(other.exists(), "not a broker work folder: kept");
        assert!(!orphan.exists() && !stranger.exists());
    }
}
