//! Reading a run's `summary.json`: the counts of each experiment, and which
//! run it was. Tolerant: a count missing from an older or newer format is
//! `None`, and anything else in the file is ignored.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CompareError;
use crate::model::names;
use crate::model::spread::CountSpread;

/// The parts of `summary.json` a comparison needs; anything else in the
/// file is ignored.
#[derive(Debug, Deserialize)]
struct SummaryFile {
    #[serde(default)]
    run: RunHead,
    experiments: Vec<ExperimentFile>,
}

#[derive(Debug, Default, Deserialize)]
struct RunHead {
    #[serde(default)]
    run_id: String,
    #[serde(default)]
    backend: String,
    #[serde(default)]
    kafka_version: String,
}

#[derive(Debug, Deserialize)]
struct ExperimentFile {
    name: String,
    #[serde(default)]
    mode: String,
    /// Kept loose: a count missing from an older or newer format is `None`,
    /// not an error.
    #[serde(default)]
    counts: BTreeMap<String, serde_json::Value>,
}

/// One run, as read from its `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub run: RunRef,
    pub experiments: Vec<ExperimentCounts>,
}

/// Which run, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRef {
    /// `run.run_id` of summary.json (the folder name if it has none).
    pub run_id: String,
    /// The summary.json read.
    pub summary: PathBuf,
    /// The run folder (the folder of summary.json).
    pub folder: PathBuf,
    pub backend: String,
    pub kafka_version: String,
}

/// The counts of one experiment of a run: one value per repetition (a
/// single run has one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExperimentCounts {
    pub name: String,
    pub mode: String,
    /// By name (see [`VerdictCounts::NAMES`](crate::model::verdict::VerdictCounts::NAMES)),
    /// the value of each repetition that has it, in order.
    pub counts: BTreeMap<String, Vec<u64>>,
}

impl ExperimentCounts {
    /// The count over the repetitions (`None`: no repetition has it).
    pub fn get(&self, count: &str) -> Option<CountSpread> {
        self.counts.get(count).and_then(|v| CountSpread::of(v))
    }

    /// How many repetitions (entries of summary.json) it has.
    pub fn repetitions(&self) -> usize {
        self.counts.values().map(Vec::len).max().unwrap_or(0)
    }
}

/// A run folder or a summary.json → the summary.json.
fn summary_path(path: &Path) -> Result<PathBuf, CompareError> {
    if path.is_dir() {
        let p = path.join(names::SUMMARY_JSON);
        if p.is_file() {
            Ok(p)
        } else {
            Err(CompareError::NoSummary {
                path: path.to_path_buf(),
            })
        }
    } else {
        Ok(path.to_path_buf())
    }
}

/// Reads a run's `summary.json` (`path` is the run folder or the file).
pub fn load_summary(path: &Path) -> Result<RunSummary, CompareError> {
    let summary = summary_path(path)?;
    let bytes = fs::read(&summary).map_err(|error| CompareError::Read {
        path: summary.clone(),
        error,
    })?;
    let file: SummaryFile =
        serde_json::from_slice(&bytes).map_err(|error| CompareError::Parse {
            path: summary.clone(),
            error,
        })?;
    let folder = match summary.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let run_id = if file.run.run_id.is_empty() {
        folder
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "run".into())
    } else {
        file.run.run_id
    };
    // Entries of one name are the repetitions of one experiment (with
    // `--repeat`): they are compared as one, by their spread.
    let mut experiments: Vec<ExperimentCounts> = Vec::new();
    for e in file.experiments {
        let i = match experiments.iter().position(|x| x.name == e.name) {
            Some(i) => i,
            None => {
                experiments.push(ExperimentCounts {
                    name: e.name,
                    mode: e.mode,
                    counts: BTreeMap::new(),
                });
                experiments.len() - 1
            }
        };
        for (k, v) in e.counts {
            if let Some(v) = v.as_u64() {
                experiments[i].counts.entry(k).or_default().push(v);
            }
        }
    }
    Ok(RunSummary {
        run: RunRef {
            run_id,
            summary,
            folder,
            backend: file.run.backend,
            kafka_version: file.run.kafka_version,
        },
        experiments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).unwrap();
        let e = load_summary(&empty).unwrap_err();
        assert!(matches!(e, CompareError::NoSummary { .. }), "{e}");
        let e = load_summary(&tmp.path().join("missing.json")).unwrap_err();
        assert!(matches!(e, CompareError::Read { .. }), "{e}");
        let junk = tmp.path().join("junk.json");
        fs::write(&junk, b"{\"run\": 3}").unwrap();
        let e = load_summary(&junk).unwrap_err();
        assert!(
            e.to_string().contains("not a kafka-chaos summary.json"),
            "{e}"
        );
    }
}
