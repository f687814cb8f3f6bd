//! Faults through commands: on a cluster the harness does not run, a
//! fault is a shell command of the spec's (`[commands.<fault>]`, see
//! [`crate::spec::commands`]) — `kubectl delete pod`, a Chaos Mesh
//! manifest, `ssh … systemctl stop kafka`, a cloud API.
//!
//! Each command runs once per node the fault aims at (in parallel), as
//! `sh -c TEXT` in a process group of its own, with `KAFKA_CHAOS_*`
//! variables saying what to hit, bounded by its timeout (then the whole
//! group is killed); its stdout and stderr are kept, interleaved, up to
//! [`OUTPUT_LIMIT`] bytes. What ran is returned as [`CommandRun`]s for the
//! results.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::broker::Broker;
pub use crate::model::result::CommandRun;
use crate::spec::commands::{expand, PLACEHOLDERS};
use crate::spec::FaultKind;

/// How much of a command's output is kept.
pub const OUTPUT_LIMIT: usize = 8 * 1024;

/// What a fault command is about: the values of its placeholders and
/// environment variables (apart from the node's own).
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub fault: FaultKind,
    pub topic: String,
    pub partition: i32,
    pub run_id: String,
    pub bootstrap: String,
    /// When the experiment's time began (for `started_at`).
    pub origin: Instant,
}

/// The values for node `node` among `nodes` (placeholder name → value).
fn values(
    broker: &Broker,
    ctx: &CommandContext,
    node: i32,
    nodes: &[i32],
) -> BTreeMap<&'static str, String> {
    let addr = broker.node_bootstrap(node).unwrap_or_default();
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.to_string()),
        None => (addr.clone(), String::new()),
    };
    BTreeMap::from([
        ("node", node.to_string()),
        ("host", host),
        ("port", port),
        (
            "nodes",
            nodes
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("topic", ctx.topic.clone()),
        ("partition", ctx.partition.to_string()),
        ("run_id", ctx.run_id.clone()),
        ("fault", ctx.fault.to_string()),
        ("bootstrap", ctx.bootstrap.clone()),
    ])
}

/// Runs `text` for every node of `nodes` at once (phase `inject` or
/// `heal`), each bounded by `timeout`.
pub async fn run_for_nodes(
    broker: &Broker,
    ctx: &CommandContext,
    phase: &str,
    text: &str,
    nodes: &[i32],
    timeout: Duration,
) -> Vec<CommandRun> {
    let runs = nodes.iter().map(|&node| {
        let vals = values(broker, ctx, node, nodes);
        let command = expand(text, &vals);
        let mut env: Vec<(String, String)> = PLACEHOLDERS
            .iter()
            .filter_map(|(p, var)| vals.get(p).map(|v| (var.to_string(), v.clone())))
            .collect();
        env.push(("KAFKA_CHAOS_PHASE".into(), phase.to_string()));
        let origin = ctx.origin;
        let phase = phase.to_string();
        async move {
            let mut r = run_one(&command, &env, timeout, origin).await;
            r.phase = phase;
            r.node = Some(node);
            r
        }
    });
    futures::future::join_all(runs).await
}

/// Runs one command with `sh -c`, bounded by `timeout`.
pub async fn run_one(
    command: &str,
    env: &[(String, String)],
    timeout: Duration,
    origin: Instant,
) -> CommandRun {
    let started = Instant::now();
    let mut run = CommandRun {
        command: command.to_string(),
        started_at: started.duration_since(origin).as_secs_f64(),
        ..Default::default()
    };
    tracing::info!("fault command: {command}");
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => {
            run.error = Some(format!("cannot create a pipe: {e}"));
            return run;
        }
    };
    let spawned = {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(command)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .process_group(0)
            .kill_on_drop(false);
        match writer.try_clone() {
            Ok(w) => {
                cmd.stdout(w).stderr(writer);
                cmd.spawn()
            }
            Err(e) => Err(e),
        }
        // `cmd`, and with it the parent's ends of the pipe, drops here.
    };
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            run.error = Some(e.to_string());
            return run;
        }
    };
    let output = tokio::task::spawn_blocking(move || read_bounded(reader));
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(s) => s.ok(),
        Err(_) => {
            run.timed_out = true;
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            child.wait().await.ok()
        }
    };
    run.seconds = started.elapsed().as_secs_f64();
    run.exit_code = status.and_then(|s| s.code());
    // A process the command left running may hold the pipe open: what it
    // wrote so far is enough.
    if let Ok(Ok((text, truncated))) = tokio::time::timeout(Duration::from_secs(2), output).await {
        run.output = text;
        run.output_truncated = truncated;
    }
    if !run.succeeded() {
        tracing::warn!("{}", run.failure());
    }
    run
}

/// Reads to the end, keeping the first [`OUTPUT_LIMIT`] bytes.
fn read_bounded(mut r: impl Read) -> (String, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    let mut truncated = false;
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), truncated)
}

/// After a command stopped nodes: waits (up to `bound`) until none of them
/// accepts a TCP connection any more. Returns whether they all went down.
pub async fn wait_unreachable(broker: &Broker, nodes: &[i32], bound: Duration) -> bool {
    let addrs: Vec<String> = nodes
        .iter()
        .filter_map(|n| broker.node_bootstrap(*n))
        .collect();
    let deadline = Instant::now() + bound;
    loop {
        let mut up = false;
        for a in &addrs {
            let attempt =
                tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(a))
                    .await;
            up |= matches!(attempt, Ok(Ok(_)));
        }
        if !up {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_is_run_with_its_environment_and_recorded() {
        let env = vec![("KAFKA_CHAOS_NODE".to_string(), "2".to_string())];
        let r = run_one(
            "echo node=$KAFKA_CHAOS_NODE; echo oops >&2; exit 3",
            &env,
            Duration::from_secs(10),
            Instant::now(),
        )
        .await;
        assert_eq!(r.exit_code, Some(3));
        assert!(!r.succeeded());
        assert!(
            r.output.contains("node=2") && r.output.contains("oops"),
            "{r:?}"
        );
        assert!(
            r.failure().contains("exited with 3: oops"),
            "{}",
            r.failure()
        );
    }

    #[tokio::test]
    async fn a_command_that_outlives_its_timeout_is_killed() {
        let t = Instant::now();
        let r = run_one("echo started; sleep 30", &[], Duration::from_millis(500), t).await;
        assert!(r.timed_out, "{r:?}");
        assert_eq!(r.exit_code, None);
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(r.output.contains("started"), "{r:?}");
        assert!(r.failure().contains("timed out"));
    }

    #[tokio::test]
    async fn output_is_bounded() {
        let r = run_one(
            "head -c 100000 /dev/zero | tr '\\0' x",
            &[],
            Duration::from_secs(10),
            Instant::now(),
        )
        .await;
        assert!(r.succeeded(), "{r:?}");
        assert_eq!(r.output.len(), OUTPUT_LIMIT);
        assert!(r.output_truncated);
    }
}
