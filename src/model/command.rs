//! One run of a fault command on a cluster the harness does not run
//! (`[commands.<fault>]`): what ran, for which node, how long, its exit and
//! its output. Plain data, kept in the fault's window.

use serde::{Deserialize, Serialize};

/// One run of a fault command (`[commands.<fault>]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandRun {
    /// `inject` or `heal`.
    pub phase: String,
    /// The node it was run for (its `KAFKA_CHAOS_NODE`).
    pub node: Option<i32>,
    /// The command as run, placeholders replaced.
    pub command: String,
    /// Seconds since the time origin when it started.
    pub started_at: f64,
    /// How long it ran, in seconds.
    pub seconds: f64,
    /// Its exit code (`None` if it was killed: by its timeout, or a signal).
    pub exit_code: Option<i32>,
    /// It ran out of its `timeout` and was killed (its process group).
    #[serde(default)]
    pub timed_out: bool,
    /// What it wrote to stdout and stderr, interleaved, up to a bound.
    pub output: String,
    /// The output went on past the bound.
    #[serde(default)]
    pub output_truncated: bool,
    /// Why it could not be started, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CommandRun {
    /// It ran and exited 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && self.error.is_none()
    }

    /// One line on what went wrong, for errors and reports.
    pub fn failure(&self) -> String {
        let node = self
            .node
            .map(|n| format!(" for node {n}"))
            .unwrap_or_default();
        let why = if let Some(e) = &self.error {
            format!("could not start: {e}")
        } else if self.timed_out {
            format!("timed out after {:.1} s", self.seconds)
        } else {
            match self.exit_code {
                Some(c) => format!("exited with {c}"),
                None => "was killed by a signal".into(),
            }
        };
        let last = self.output.lines().rev().find(|l| !l.trim().is_empty());
        match last {
            Some(l) => format!("{} command{node} {why}: {l}", self.phase),
            None => format!("{} command{node} {why}", self.phase),
        }
    }
}
