//! kcat, the independent librdkafka producer: timed as a whole process.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{bail, Context};

/// `kcat -P -l FILE`: the whole process, timed. Returns seconds.
pub(super) async fn run_kcat(
    kcat: &Path,
    bootstrap: &str,
    topic: &str,
    file: &Path,
    client: &BTreeMap<String, String>,
    extra: &[(&str, &str)],
) -> anyhow::Result<f64> {
    let mut cmd = tokio::process::Command::new(kcat);
    cmd.args(["-P", "-q", "-b", bootstrap, "-t", topic]);
    for (k, v) in client {
        cmd.arg("-X").arg(format!("{k}={v}"));
    }
    for (k, v) in extra {
        cmd.arg("-X").arg(format!("{k}={v}"));
    }
    // Under `cargo run`/`cargo test`, LD_LIBRARY_PATH points at the build's
    // own librdkafka.so, which kcat would then load instead of its own: run
    // kcat as installed.
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd.arg("-l")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let out = cmd
        .output()
        .await
        .with_context(|| format!("cannot run {}", kcat.display()))?;
    let wall = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "kcat failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(wall)
}

pub(super) async fn kcat_version(kcat: &Path) -> Option<String> {
    let out = tokio::process::Command::new(kcat)
        .arg("-V")
        .output()
        .await
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines().find(|l| l.starts_with("Version")).map(|l| {
        // "Version 1.7.1 (JSON, …, librdkafka 2.0.2 builtin.features=…)"
        let kcat = l.split_whitespace().nth(1).unwrap_or("?");
        let lib = l
            .split("librdkafka ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or("?");
        format!("kcat {kcat} (librdkafka {lib})")
    })
}
