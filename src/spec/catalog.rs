//! The experiments folder: every spec in it, loaded and checked, and a
//! selection by name.

use std::path::{Path, PathBuf};

use super::{ExperimentSpec, Profile, SpecError};

/// All specs in a folder, sorted by name. Every file is checked; the first
/// error stops the load.
pub fn load_dir(dir: &Path, profile: Profile) -> Result<Vec<ExperimentSpec>, SpecError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SpecError::Read {
        file: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(SpecError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    files
        .iter()
        .map(|f| ExperimentSpec::load(f, profile))
        .collect()
}

/// Selects specs by name (`all` selects every one), keeping folder order.
pub fn select(
    dir: &Path,
    names: &[String],
    profile: Profile,
) -> Result<Vec<ExperimentSpec>, SpecError> {
    // A path to a single file is accepted too.
    if names.len() == 1 && names[0].ends_with(".toml") {
        return Ok(vec![ExperimentSpec::load(Path::new(&names[0]), profile)?]);
    }
    let all = load_dir(dir, profile)?;
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(all);
    }
    let mut picked = Vec::new();
    for n in names {
        match all.iter().find(|s| &s.name == n) {
            Some(s) => picked.push(s.clone()),
            None => {
                return Err(SpecError::UnknownExperiment {
                    name: n.clone(),
                    dir: dir.to_path_buf(),
                    known: all
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    }
    Ok(picked)
}
