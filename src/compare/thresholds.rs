//! The thresholds of `kafka-chaos compare`: when a difference between two
//! runs is a violation.

use std::fmt;

use super::CompareError;
use crate::model::verdict::VerdictCounts;

/// When a difference is a violation (exit code 1). None given: report only.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct Thresholds {
    /// Fail when count NAME grew by more than N (new − old > N) in an
    /// experiment of both runs. Repeatable, e.g. `--max-increase lost=0
    /// --max-increase silent_loss=5`. NAME is a count of summary.json:
    /// sent, acked, failed, unreported, persisted, missing, duplicated,
    /// duplicates, ok, lost, recovered, reported_loss, unreported_ok,
    /// silent_loss, unexpected, reordered, consumed.
    #[arg(long = "max-increase", value_name = "NAME=N", value_parser = parse_threshold)]
    pub max_increase: Vec<Threshold>,
    /// Fail when count NAME shrank by more than N (old − new > N), e.g.
    /// `--max-decrease ok=10`. Repeatable.
    #[arg(long = "max-decrease", value_name = "NAME=N", value_parser = parse_threshold)]
    pub max_decrease: Vec<Threshold>,
    /// Fail on any difference in any count, and on an experiment found in
    /// one run only.
    #[arg(long)]
    pub fail_on_change: bool,
}

impl Thresholds {
    /// No threshold given: the comparison only reports.
    pub fn is_empty(&self) -> bool {
        self.max_increase.is_empty() && self.max_decrease.is_empty() && !self.fail_on_change
    }

    /// Whether a threshold names `count`.
    pub(crate) fn names(&self, count: &str) -> bool {
        self.max_increase
            .iter()
            .chain(&self.max_decrease)
            .any(|t| t.count == count)
    }
}

impl fmt::Display for Thresholds {
    /// The thresholds as they are written on the command line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(
            self.max_increase
                .iter()
                .map(|t| format!("--max-increase {t}")),
        );
        parts.extend(
            self.max_decrease
                .iter()
                .map(|t| format!("--max-decrease {t}")),
        );
        if self.fail_on_change {
            parts.push("--fail-on-change".into());
        }
        f.write_str(&parts.join(" "))
    }
}

/// `NAME=N`: a count of [`VerdictCounts::NAMES`] and a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub count: &'static str,
    pub limit: u64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.count, self.limit)
    }
}

/// Parses `NAME=N` (`-` in NAME is read as `_`: `silent-loss=0` works).
pub fn parse_threshold(s: &str) -> Result<Threshold, CompareError> {
    let bad = |reason: String| CompareError::Threshold {
        arg: s.to_string(),
        reason,
    };
    let Some((name, limit)) = s.split_once('=') else {
        return Err(bad("expected NAME=N, e.g. lost=0".into()));
    };
    let name = name.trim().to_ascii_lowercase().replace('-', "_");
    let Some(count) = VerdictCounts::NAMES.iter().copied().find(|n| *n == name) else {
        return Err(bad(format!(
            "unknown count `{name}`; valid counts: {}",
            VerdictCounts::NAMES.join(", ")
        )));
    };
    let limit = limit.trim().parse::<u64>().map_err(|_| {
        bad(format!(
            "`{}` is not a limit: N must be a whole number ≥ 0",
            limit.trim()
        ))
    })?;
    Ok(Threshold { count, limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(s: &str) -> Threshold {
        parse_threshold(s).unwrap()
    }

    #[test]
    fn thresholds_parse() {
        assert_eq!(
            th("lost=0"),
            Threshold {
                count: "lost",
                limit: 0
            }
        );
        assert_eq!(th(" silent-loss = 5 ").count, "silent_loss");
        assert_eq!(th("OK=10").to_string(), "ok=10");
        for bad in ["lost", "lost=", "lost=-1", "lost=x", "=3", "nope=1", ""] {
            assert!(parse_threshold(bad).is_err(), "{bad}");
        }
        let msg = parse_threshold("nope=1").unwrap_err().to_string();
        assert!(msg.contains("unknown count `nope`"), "{msg}");
        for n in VerdictCounts::NAMES {
            assert!(msg.contains(n), "{msg} lists {n}");
        }
    }
}
