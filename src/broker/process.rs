//! A KRaft broker as a child JVM.
//!
//! From a Kafka distribution (`--kafka-home`, the tutorial's unpacked
//! `kafka_2.13-x.y.z` folder) or from the jars `make setup` resolved from
//! Maven Central into the same layout (`libs/*.jar`, `config/`). The JVM is
//! started directly (no shell script in between), so SIGTERM, SIGKILL and
//! SIGSTOP reach the broker itself; it dies with the harness (see
//! [`crate::infra::supervise`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::topology::NodePlan;
use super::{cleanup, ensure_free, BrokerConfig, BrokerError, BrokerState, Jit, CLUSTER_ID};
use crate::infra::cache::cache_dir;
use crate::infra::supervise;

/// The folder `make setup` lays the Maven jars out in, for a version.
pub fn default_kafka_home(version: &str) -> PathBuf {
    cache_dir().join(format!("kafka-{version}"))
}

/// Checks a Kafka home and returns the Kafka version found in it.
pub fn inspect_kafka_home(home: &Path) -> Result<String, BrokerError> {
    let bad = |reason: &str| BrokerError::KafkaHome {
        path: home.to_path_buf(),
        reason: reason.to_string(),
    };
    if !home.is_dir() {
        return Err(bad("no such folder (pass --kafka-home DIR of an unpacked Kafka distribution, or run `make setup`)"));
    }
    let libs = home.join("libs");
    let entries = std::fs::read_dir(&libs)
        .map_err(|_| bad("has no libs/ folder: not a Kafka distribution"))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        // kafka_2.13-4.3.1.jar (not -sources, -test, -javadoc)
        if let Some(rest) = name.strip_prefix("kafka_") {
            if let Some((_, v)) = rest.split_once('-') {
                if let Some(v) = v.strip_suffix(".jar") {
                    if v.chars().next().is_some_and(|c| c.is_ascii_digit()) && !v.contains('-') {
                        return Ok(v.to_string());
                    }
                }
            }
        }
    }
    Err(bad(
        "libs/ holds no kafka_<scala>-<version>.jar: not a Kafka distribution",
    ))
}

fn java() -> Result<PathBuf, BrokerError> {
    if let Ok(h) = std::env::var("JAVA_HOME") {
        let p = Path::new(&h).join("bin").join("java");
        if p.is_file() {
            return Ok(p);
        }
    }
    super::engine::which("java").ok_or_else(|| BrokerError::KafkaHome {
        path: PathBuf::from("java"),
        reason: "no `java` on PATH (Kafka needs Java 17+; run `make setup`)".into(),
    })
}

/// A Kafka installation for the process backend, resolved once per cluster.
#[derive(Debug, Clone)]
pub struct KafkaHome {
    pub home: PathBuf,
    pub version: String,
    java: PathBuf,
    /// The JVM options that map the home's class-data archive, if it has
    /// one for this JVM ([`cds_archive`]).
    cds: Vec<String>,
}

/// The class-data archive of the broker's classes that set-up made in
/// `home` (`cds/broker.jsa`, by the broker of its local smoke test, at its
/// clean exit), when it was made by `java` as it is now
/// (`cds/broker.jsa.java` holds that JVM's [`jvm_identity`]). A JVM that
/// maps it starts about a second sooner on about a CPU-second less
/// (BENCHMARKS.md, "Four node slots per core, three jobs, class-data
/// archives"); another JVM, or this one upgraded in place, would reject it
/// and start slower, so it is not offered one (set-up makes a new one).
pub fn cds_archive(home: &Path, java: &Path) -> Option<PathBuf> {
    let archive = home.join("cds").join("broker.jsa");
    let made_by = std::fs::read_to_string(home.join("cds").join("broker.jsa.java")).ok()?;
    let now = jvm_identity(java)?;
    (archive.is_file() && made_by.trim_end() == now).then_some(archive)
}

/// What a class-data archive is bound to, as `scripts/lib.sh`'s
/// `jvm_identity` writes it: the JVM's canonical path, then the size and
/// modification time (seconds) of its `libjvm.so`, which an upgrade in
/// place changes.
pub fn jvm_identity(java: &Path) -> Option<String> {
    let java = std::fs::canonicalize(java).ok()?;
    let lib = java.parent()?.join("../lib/server/libjvm.so");
    let lib = match std::fs::metadata(lib) {
        Ok(m) => {
            let mtime = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            format!("libjvm.so {} {}", m.len(), mtime.as_secs())
        }
        Err(_) => "libjvm.so none".to_string(),
    };
    Some(format!("{}\n{lib}", java.display()))
}

impl KafkaHome {
    /// The asked home (or the set-up's jars for the version), checked;
    /// first removes what brokers of killed runs left (their JVMs die with
    /// the harness, their work folders stay until reaped).
    pub fn resolve(cfg: &BrokerConfig) -> Result<KafkaHome, BrokerError> {
        let reaped = cleanup::reap_processes(false);
        if reaped.killed > 0 || !reaped.folders.is_empty() {
            tracing::info!(
                killed = reaped.killed,
                folders = ?reaped.folders,
                "removed brokers left by killed runs"
            );
        }
        let home = cfg
            .kafka_home
            .clone()
            .unwrap_or_else(|| default_kafka_home(&cfg.kafka_version));
        let version = inspect_kafka_home(&home)?;
        let java = java()?;
        let cds = cds_archive(&home, &java)
            .map(|a| vec![format!("-XX:SharedArchiveFile={}", a.display())])
            .unwrap_or_default();
        Ok(KafkaHome {
            home,
            version,
            java,
            cds,
        })
    }
}

/// One KRaft node running as a child process.
pub struct ProcessNode {
    id: i32,
    kafka: KafkaHome,
    work: tempfile::TempDir,
    ports: Vec<u16>,
    heap_opts: String,
    jit: Jit,
    child: Option<Child>,
    state: BrokerState,
    /// Signalled to stop, not yet seen exiting.
    exiting: Option<Exiting>,
    pidfile: PathBuf,
}

/// How a node was told to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exiting {
    /// SIGTERM: Kafka's controlled shutdown.
    Graceful,
    /// SIGKILL.
    Hard,
}

impl ProcessNode {
    /// Writes the node's properties, formats its log folder (KRaft needs it
    /// once) and starts the JVM. Does not wait for readiness.
    pub async fn start(
        cfg: &BrokerConfig,
        kafka: &KafkaHome,
        plan: &NodePlan,
    ) -> Result<Self, BrokerError> {
        let work = tempfile::Builder::new()
            .prefix(&format!("kafka-chaos-{}-node{}-", cfg.run_label, plan.id))
            .tempdir()
            .map_err(|e| BrokerError::io("cannot create the broker's work folder", e))?;
        let data = match &plan.data_dir {
            Some(d) => d.clone(),
            None => work.path().join("data"),
        };
        let props = plan.properties(&data.to_string_lossy());
        let props_path = work.path().join("server.properties");
        let mut text = String::from("# written by kafka-chaos\n");
        for (k, v) in &props {
            text.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(&props_path, text)
            .map_err(|e| BrokerError::io(format!("cannot write {}", props_path.display()), e))?;

        let out = tokio::process::Command::new(&kafka.java)
            .args(&kafka.cds)
            .args(cfg.jit.jvm_options())
            .arg("-cp")
            .arg(classpath(&kafka.home))
            .args(log4j_args(&kafka.home))
            .args(["kafka.tools.StorageTool", "format", "-t", CLUSTER_ID, "-c"])
            .arg(&props_path)
            .arg("--ignore-formatted")
            .output()
            .await
            .map_err(|e| BrokerError::io("cannot run Kafka's storage tool", e))?;
        if !out.status.success() {
            return Err(BrokerError::KafkaHome {
                path: kafka.home.clone(),
                reason: format!(
                    "formatting storage failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .chain(String::from_utf8_lossy(&out.stdout).lines())
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("no output")
                ),
            });
        }

        let pidfile = cleanup::pidfile_path(&cfg.run_label, plan.client_port);
        let mut node = ProcessNode {
            id: plan.id,
            kafka: kafka.clone(),
            work,
            ports: plan.ports.clone(),
            heap_opts: cfg.heap_opts.clone(),
            jit: cfg.jit,
            child: None,
            state: BrokerState::Stopped,
            exiting: None,
            pidfile,
        };
        node.spawn()?;
        Ok(node)
    }

    fn log_path(&self) -> PathBuf {
        self.work.path().join("broker.log")
    }

    fn spawn(&mut self) -> Result<(), BrokerError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| BrokerError::io("cannot open the broker log", e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| BrokerError::io("cannot open the broker log", e))?;
        let mut cmd = Command::new(&self.kafka.java);
        cmd.args(&self.kafka.cds)
            .args(self.heap_opts.split_whitespace())
            .args(self.jit.jvm_options())
            .arg("-cp")
            .arg(classpath(&self.kafka.home))
            .args(log4j_args(&self.kafka.home))
            .arg("kafka.Kafka")
            .arg(self.work.path().join("server.properties"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let child = supervise::spawn(cmd, Signal::SIGKILL)
            .map_err(|e| BrokerError::io("cannot start the Kafka JVM", e))?;
        cleanup::write_pidfile(&self.pidfile, child.id(), self.work.path());
        tracing::debug!(node = self.id, pid = child.id(), "broker process started");
        self.child = Some(child);
        self.state = BrokerState::Running;
        Ok(())
    }

    pub fn source(&self) -> String {
        self.kafka.home.display().to_string()
    }

    pub fn version(&self) -> &str {
        &self.kafka.version
    }

    /// The process id, or empty when it is not running.
    pub fn id_string(&self) -> String {
        self.child
            .as_ref()
            .map(|c| c.id().to_string())
            .unwrap_or_default()
    }

    pub fn state(&self) -> BrokerState {
        self.state
    }

    fn pid(&self) -> Option<Pid> {
        self.child.as_ref().map(|c| Pid::from_raw(c.id() as i32))
    }

    fn signal(&self, sig: Signal) -> Result<(), BrokerError> {
        if let Some(pid) = self.pid() {
            kill(pid, sig).map_err(|e| {
                BrokerError::io(format!("cannot send {sig} to the broker"), e.into())
            })?;
        }
        Ok(())
    }

    /// Waits for the child to exit, up to `timeout`.
    async fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(_))) | None | Some(Err(_)) => return true,
                Some(Ok(None)) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        false
    }

    fn require(&self, op: &'static str, states: &[BrokerState]) -> Result<(), BrokerError> {
        self.state.require(op, states)
    }

    /// SIGTERM delivered: the node is on its way down (controlled
    /// shutdown); [`ProcessNode::await_exit`] waits until it is gone.
    pub async fn signal_stop(&mut self) -> Result<(), BrokerError> {
        self.require("stop", &[BrokerState::Running])?;
        self.signal(Signal::SIGTERM)?;
        self.state = BrokerState::Stopped;
        self.exiting = Some(Exiting::Graceful);
        Ok(())
    }

    /// SIGKILL delivered: the node dies; [`ProcessNode::await_exit`] waits
    /// until the process is gone.
    pub async fn signal_kill(&mut self) -> Result<(), BrokerError> {
        self.require("kill", &[BrokerState::Running, BrokerState::Paused])?;
        self.signal(Signal::SIGKILL)?;
        self.state = BrokerState::Stopped;
        self.exiting = Some(Exiting::Hard);
        Ok(())
    }

    /// Waits until a node signalled to stop has exited: up to 60 s after
    /// SIGTERM (then SIGKILL), 10 s after SIGKILL. Returns whether it exited.
    pub async fn await_exit(&mut self) -> Result<bool, BrokerError> {
        match self.exiting.take() {
            None => Ok(true),
            Some(Exiting::Hard) => Ok(self.wait_exit(Duration::from_secs(10)).await),
            Some(Exiting::Graceful) => {
                if self.wait_exit(Duration::from_secs(60)).await {
                    return Ok(true);
                }
                tracing::warn!(
                    node = self.id,
                    "broker did not stop within 60 s of SIGTERM; killing it"
                );
                self.signal(Signal::SIGKILL)?;
                Ok(self.wait_exit(Duration::from_secs(10)).await)
            }
        }
    }

    /// Graceful stop: SIGTERM, then wait until the node has exited.
    pub async fn stop(&mut self) -> Result<(), BrokerError> {
        self.signal_stop().await?;
        self.await_exit().await.map(|_| ())
    }

    /// Hard kill: SIGKILL, then wait until the process is gone.
    pub async fn kill(&mut self) -> Result<(), BrokerError> {
        self.signal_kill().await?;
        self.await_exit().await.map(|_| ())
    }

    pub async fn pause(&mut self) -> Result<(), BrokerError> {
        self.require("pause", &[BrokerState::Running])?;
        self.signal(Signal::SIGSTOP)?;
        self.state = BrokerState::Paused;
        Ok(())
    }

    pub async fn resume(&mut self) -> Result<(), BrokerError> {
        self.require("resume", &[BrokerState::Paused])?;
        self.signal(Signal::SIGCONT)?;
        self.state = BrokerState::Running;
        Ok(())
    }

    pub async fn start_again(&mut self) -> Result<(), BrokerError> {
        self.require("restart", &[BrokerState::Stopped])?;
        self.await_exit().await?;
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        // The ports must still be free: something else may have taken one.
        for port in &self.ports {
            ensure_free(*port)?;
        }
        self.spawn()
    }

    pub async fn log_tail(&self, lines: usize) -> String {
        tail_file(&self.log_path(), lines)
    }

    pub async fn remove(mut self) {
        if matches!(self.state, BrokerState::Paused) {
            let _ = self.signal(Signal::SIGCONT);
        }
        if let Some(mut c) = self.child.take() {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGKILL);
            }
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.pidfile);
        self.state = BrokerState::Removed;
        // `work` (data and logs) is deleted when it drops here.
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
            let _ = std::fs::remove_file(&self.pidfile);
        }
    }
}

fn classpath(home: &Path) -> String {
    format!("{}/libs/*", home.display())
}

/// The JVM options naming the broker's logging configuration: log4j2's
/// (Kafka 4) and, where the home has one, log4j 1.x's (Kafka 3.x logs through
/// reload4j, which ignores log4j2's and, without its own, logs nothing).
fn log4j_args(home: &Path) -> Vec<String> {
    let mut args = Vec::new();
    for name in [
        "log4j2.yaml",
        "log4j2.yml",
        "log4j2.properties",
        "log4j2.xml",
    ] {
        let p = home.join("config").join(name);
        if p.is_file() {
            args.push(format!("-Dlog4j2.configurationFile={}", p.display()));
            break;
        }
    }
    let p = home.join("config").join("log4j.properties");
    if p.is_file() {
        args.push(format!("-Dlog4j.configuration=file:{}", p.display()));
    }
    args
}

/// The last `lines` lines of a text file (empty if unreadable).
pub fn tail_file(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_is_offered_only_to_the_jvm_that_made_it() {
        let home = tempfile::tempdir().unwrap();
        let bin = home.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let (java, other) = (bin.join("java"), bin.join("other-java"));
        std::fs::write(&java, "").unwrap();
        std::fs::write(&other, "").unwrap();
        assert_eq!(cds_archive(home.path(), &java), None, "no archive");

        let cds = home.path().join("cds");
        std::fs::create_dir_all(&cds).unwrap();
        std::fs::write(cds.join("broker.jsa"), "archive").unwrap();
        assert_eq!(
            cds_archive(home.path(), &java),
            None,
            "no record of its JVM"
        );

        let made_by = jvm_identity(&java).unwrap();
        std::fs::write(cds.join("broker.jsa.java"), format!("{made_by}\n")).unwrap();
        assert_eq!(
            cds_archive(home.path(), &java),
            Some(cds.join("broker.jsa"))
        );
        assert_eq!(cds_archive(home.path(), &other), None, "another JVM");

        // The same path, upgraded in place: its libjvm.so is another.
        let server = home.path().join("lib").join("server");
        std::fs::create_dir_all(&server).unwrap();
        std::fs::write(server.join("libjvm.so"), "a newer JVM").unwrap();
        assert_eq!(cds_archive(home.path(), &java), None, "upgraded in place");
        let upgraded = jvm_identity(&java).unwrap();
        std::fs::write(cds.join("broker.jsa.java"), format!("{upgraded}\n")).unwrap();
        assert_eq!(
            cds_archive(home.path(), &java),
            Some(cds.join("broker.jsa"))
        );

        std::fs::remove_file(cds.join("broker.jsa")).unwrap();
        assert_eq!(cds_archive(home.path(), &java), None, "the record alone");
    }

    #[test]
    fn a_missing_home_is_named() {
        let err = inspect_kafka_home(Path::new("/nonexistent/kafka")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/kafka"), "{msg}");
        assert!(msg.contains("no such folder"), "{msg}");
    }

    #[test]
    fn a_folder_without_kafka_jars_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("libs")).unwrap();
        std::fs::write(d.path().join("libs/other-1.0.jar"), b"").unwrap();
        let msg = inspect_kafka_home(d.path()).unwrap_err().to_string();
        assert!(msg.contains("not a Kafka distribution"), "{msg}");
    }

    #[test]
    fn the_version_is_read_from_the_core_jar() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("libs")).unwrap();
        for f in [
            "kafka_2.13-4.3.1-sources.jar",
            "kafka-clients-4.3.1.jar",
            "kafka_2.13-4.3.1.jar",
        ] {
            std::fs::write(d.path().join("libs").join(f), b"").unwrap();
        }
        assert_eq!(inspect_kafka_home(d.path()).unwrap(), "4.3.1");
    }
}
