//! The spec side of external producers: the `[external]` table of a spec,
//! checked when the spec is loaded.
//!
//! A spec with `mode = "external"` names a program (in any language) that
//! speaks the line protocol of `docs/external-producers.md`; running it is
//! the producer stage's business (`crate::produce::external`). Here the
//! table is parsed and checked, and the command's placeholders are resolved:
//! `{venv}` and `{project}` at load, `{bootstrap}`, `{topic}` and
//! `{records}` when the producer starts ([`ExternalSpec::resolved_command`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Placeholders resolved when the spec is loaded.
const LOAD_PLACEHOLDERS: &[&str] = &["venv", "project"];
/// Placeholders resolved when the producer starts.
const RUN_PLACEHOLDERS: &[&str] = &["bootstrap", "topic", "records"];

/// The `[external]` table as written in a spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawExternal {
    /// The client's name, for reports: `kafka-python`.
    pub client: Option<String>,
    /// The way of sending the program implements, for reports: `sync`.
    pub mode: Option<String>,
    /// Program and arguments.
    pub command: Option<Vec<String>>,
    /// The producer is killed when it runs longer than this.
    #[serde(default, with = "humantime_serde::option")]
    pub time_limit: Option<Duration>,
}

/// A checked `[external]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalSpec {
    pub client: String,
    pub mode: Option<String>,
    /// The command with `{venv}` and `{project}` resolved; `{bootstrap}`,
    /// `{topic}` and `{records}` are resolved when it starts.
    pub command: Vec<String>,
    /// The command as written (for messages).
    pub command_as_written: Vec<String>,
    /// The working directory: the project folder (the parent of the spec's
    /// folder, where `experiments/` lives).
    pub workdir: PathBuf,
    /// The `[client]` table, passed verbatim as JSON (the client's own
    /// setting names), with `acks` defaulting to `"all"`.
    pub settings: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "humantime_serde::option")]
    pub time_limit: Option<Duration>,
}

/// The set-up's virtual environment: `$KAFKA_CHAOS_CACHE/venv`, or
/// `~/.cache/kafka-chaos/venv`.
pub fn venv_dir() -> PathBuf {
    crate::infra::cache::cache_dir().join("venv")
}

/// The project folder of a spec file: the parent of the folder it is in.
fn project_dir(spec_file: &Path) -> PathBuf {
    let dir = spec_file
        .parent()
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Replaces `{name}` by `values[name]`. Names not in `values` but in
/// `later` stay; any other `{word}` is an error.
fn substitute(arg: &str, values: &[(&str, String)], later: &[&str]) -> Result<String, String> {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        if !name.is_empty() && after[name_len..].starts_with('}') {
            if let Some((_, v)) = values.iter().find(|(k, _)| *k == name) {
                out.push_str(v);
            } else if later.contains(&name) {
                out.push_str(&rest[open..open + name_len + 2]);
            } else {
                let known: Vec<String> = LOAD_PLACEHOLDERS
                    .iter()
                    .chain(RUN_PLACEHOLDERS)
                    .map(|n| format!("{{{n}}}"))
                    .collect();
                return Err(format!(
                    "unknown placeholder `{{{name}}}` (known: {})",
                    known.join(", ")
                ));
            }
            rest = &after[name_len + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn toml_to_json(v: &toml::Value) -> Result<serde_json::Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

/// A file this user may execute.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn json_to_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl ExternalSpec {
    /// Checks the `[external]` table of a spec. `is_external` tells whether
    /// the spec's mode is `external`; `client` is its `[client]` table (with
    /// the profile's overrides). Errors name the field; the caller adds the
    /// file.
    pub fn from_spec(
        is_external: bool,
        raw: Option<&RawExternal>,
        client: &BTreeMap<String, toml::Value>,
        payload_bytes: usize,
        spec_file: &Path,
    ) -> Result<Option<ExternalSpec>, String> {
        let raw = match (is_external, raw) {
            (false, None) => return Ok(None),
            (false, Some(_)) => {
                return Err(
                    "table `[external]` applies to mode = \"external\" only (it names the program to run)"
                        .into(),
                )
            }
            (true, None) => {
                return Err(
                    "mode = \"external\" needs an `[external]` table with `client` and `command` (see docs/external-producers.md)"
                        .into(),
                )
            }
            (true, Some(r)) => r,
        };
        let label = |field: &str, v: &Option<String>| -> Result<Option<String>, String> {
            match v.as_deref().map(str::trim) {
                Some("") => Err(format!("field `external.{field}` must not be empty")),
                Some(s) => Ok(Some(s.to_string())),
                None => Ok(None),
            }
        };
        let client_name = label("client", &raw.client)?.ok_or_else(|| {
            "field `external.client` is required with mode = \"external\" (a name for reports, e.g. \"kafka-python\")".to_string()
        })?;
        let mode = label("mode", &raw.mode)?;
        let written = raw.command.clone().unwrap_or_default();
        if written.is_empty() || written[0].trim().is_empty() {
            return Err(
                "field `external.command` is required with mode = \"external\": the program and its arguments, e.g. [\"{venv}/bin/python\", \"producers/kafka-python/sync.py\"]"
                    .into(),
            );
        }
        if payload_bytes > 0 {
            return Err(
                "field `payload_bytes` is not supported with mode = \"external\" (protocol v1 sends {\"number\": n, \"id\": …} unpadded)"
                    .into(),
            );
        }
        if raw.time_limit.is_some_and(|d| d.is_zero()) {
            return Err("field `external.time_limit` must be more than 0".into());
        }
        let workdir = project_dir(spec_file);
        let values = [
            ("venv", venv_dir().to_string_lossy().to_string()),
            ("project", workdir.to_string_lossy().to_string()),
        ];
        let mut command = Vec::with_capacity(written.len());
        for (i, arg) in written.iter().enumerate() {
            command.push(
                substitute(arg, &values, RUN_PLACEHOLDERS)
                    .map_err(|m| format!("field `external.command` (item {}): {m}", i + 1))?,
            );
        }
        // A relative program path is relative to the project folder, like
        // the arguments (the producer runs there).
        if command[0].contains('/') && Path::new(&command[0]).is_relative() {
            command[0] = workdir.join(&command[0]).to_string_lossy().to_string();
        }
        let mut settings = serde_json::Map::new();
        for (k, v) in client {
            let j = toml_to_json(v).map_err(|m| format!("field `client.{k}`: {m}"))?;
            settings.insert(k.clone(), j);
        }
        settings
            .entry("acks")
            .or_insert_with(|| serde_json::Value::String("all".into()));
        Ok(Some(ExternalSpec {
            client: client_name,
            mode,
            command,
            command_as_written: written,
            workdir,
            settings,
            time_limit: raw.time_limit,
        }))
    }

    /// The command with every placeholder resolved, as the producer starts:
    /// `{bootstrap}`, `{topic}` and `{records}` (the others were resolved
    /// at load).
    pub fn resolved_command(&self, bootstrap: &str, topic: &str, records: u64) -> Vec<String> {
        let values = [
            ("bootstrap", bootstrap.to_string()),
            ("topic", topic.to_string()),
            ("records", records.to_string()),
        ];
        // Every placeholder left was checked at load: this cannot fail.
        self.command
            .iter()
            .map(|a| substitute(a, &values, &[]).unwrap_or_else(|_| a.clone()))
            .collect()
    }

    /// Why the producer program cannot start, if it cannot: a path that
    /// is not an executable file, or a bare name not found on `PATH`. Checked
    /// before any broker starts (`kafka-chaos experiment`), so a missing
    /// program stops the run at once instead of failing its experiment
    /// minutes later.
    pub fn missing_program(&self) -> Option<String> {
        let program = self.command.first()?;
        let found = if program.contains('/') {
            is_executable(Path::new(program))
        } else {
            std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
            })
        };
        if found {
            return None;
        }
        let hint = if self
            .command_as_written
            .first()
            .is_some_and(|p| p.contains("{venv}"))
        {
            "the set-up's Python environment is missing: run `make venv` (or `scripts/setup.sh --only venv`)"
        } else if program.contains('/') {
            "no such executable file"
        } else {
            "not found on PATH"
        };
        Some(format!(
            "producer program `{program}` is not installed ({hint})"
        ))
    }

    /// How reports name the mode: `kafka-python/sync`.
    pub fn label(&self) -> String {
        match &self.mode {
            Some(m) => format!("{}/{m}", self.client),
            None => self.client.clone(),
        }
    }

    /// The settings as strings, for the results' `client_settings`.
    pub fn settings_as_strings(&self) -> BTreeMap<String, String> {
        self.settings
            .iter()
            .map(|(k, v)| (k.clone(), json_to_string(v)))
            .collect()
    }

    /// `acks` as a string (`all`, `1`, `0`, `-1`).
    pub fn acks(&self) -> String {
        self.settings
            .get("acks")
            .map(json_to_string)
            .unwrap_or_else(|| "all".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_resolved_or_refused() {
        let v = [("venv", "/c/venv".to_string())];
        assert_eq!(
            substitute("{venv}/bin/python", &v, &[]).unwrap(),
            "/c/venv/bin/python"
        );
        assert_eq!(
            substitute("--bootstrap={bootstrap}", &v, RUN_PLACEHOLDERS).unwrap(),
            "--bootstrap={bootstrap}"
        );
        assert_eq!(
            substitute("{\"a\": 1} {} {x-y}", &v, &[]).unwrap(),
            "{\"a\": 1} {} {x-y}"
        );
        let msg = substitute("{venvv}/bin/python", &v, &[]).unwrap_err();
        assert!(msg.contains("`{venvv}`"), "{msg}");
        assert!(msg.contains("{venv}"), "{msg}");
    }

    fn raw(command: &[&str]) -> RawExternal {
        RawExternal {
            client: Some("kafka-python".into()),
            mode: Some("sync".into()),
            command: Some(command.iter().map(|s| s.to_string()).collect()),
            time_limit: None,
        }
    }

    #[test]
    fn the_table_is_checked() {
        let file = Path::new("/p/experiments/x.toml");
        let none = BTreeMap::new();
        let r = raw(&["{venv}/bin/python", "producers/kafka-python/sync.py"]);
        let x = ExternalSpec::from_spec(true, Some(&r), &none, 0, file)
            .unwrap()
            .unwrap();
        assert_eq!(x.label(), "kafka-python/sync");
        assert_eq!(x.workdir, PathBuf::from("/p"));
        assert!(x.command[0].ends_with("venv/bin/python"), "{:?}", x.command);
        assert_eq!(x.command[1], "producers/kafka-python/sync.py");
        assert_eq!(x.acks(), "all");
        let rel = raw(&["bin/producer", "{topic}"]);
        let x = ExternalSpec::from_spec(true, Some(&rel), &none, 0, file)
            .unwrap()
            .unwrap();
        assert_eq!(x.command, ["/p/bin/producer", "{topic}"]);

        let mut client = BTreeMap::new();
        client.insert("acks".to_string(), toml::Value::Integer(1));
        client.insert(
            "delivery_timeout_ms".to_string(),
            toml::Value::Integer(30000),
        );
        let x = ExternalSpec::from_spec(true, Some(&r), &client, 0, file)
            .unwrap()
            .unwrap();
        assert_eq!(x.acks(), "1");
        assert_eq!(x.settings["delivery_timeout_ms"], serde_json::json!(30000));
        assert_eq!(x.settings_as_strings()["delivery_timeout_ms"], "30000");

        let err = |r: Option<&RawExternal>, ext: bool, pad: usize| {
            ExternalSpec::from_spec(ext, r, &none, pad, file).unwrap_err()
        };
        assert!(err(Some(&r), false, 0).contains("mode = \"external\" only"));
        assert!(err(None, true, 0).contains("needs an `[external]` table"));
        assert!(err(Some(&raw(&[])), true, 0).contains("`external.command` is required"));
        assert!(err(Some(&r), true, 10).contains("`payload_bytes`"));
        let mut nameless = r.clone();
        nameless.client = None;
        assert!(err(Some(&nameless), true, 0).contains("`external.client` is required"));
        assert!(err(Some(&raw(&["{python}", "x.py"])), true, 0).contains("`{python}`"));
        assert!(ExternalSpec::from_spec(false, None, &none, 0, file)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_missing_producer_program_is_named_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("experiments/x.toml");
        let none = BTreeMap::new();
        let spec = |command: &[&str]| {
            ExternalSpec::from_spec(true, Some(&raw(command)), &none, 0, &file)
                .unwrap()
                .unwrap()
        };
        // On PATH, and by path.
        assert_eq!(spec(&["sh", "-c", "true"]).missing_program(), None);
        assert_eq!(spec(&["/bin/sh"]).missing_program(), None);
        // A bare name nowhere on PATH.
        let msg = spec(&["no-such-producer-4242"]).missing_program().unwrap();
        assert!(msg.contains("`no-such-producer-4242`"), "{msg}");
        assert!(msg.contains("not found on PATH"), "{msg}");
        // A relative path (to the project folder) that is missing, and one
        // that is there but not executable.
        let msg = spec(&["bin/producer"]).missing_program().unwrap();
        assert!(msg.contains("no such executable file"), "{msg}");
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/producer"), "#!/bin/sh\n").unwrap();
        assert!(spec(&["bin/producer"]).missing_program().is_some());
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("bin/producer"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_eq!(spec(&["bin/producer"]).missing_program(), None);
        // The set-up's venv: the hint names the step that installs it.
        let mut x = spec(&["{venv}/bin/python", "producers/kafka-python/sync.py"]);
        x.command[0] = dir.path().join("venv/bin/python").display().to_string();
        let msg = x.missing_program().unwrap();
        assert!(msg.contains("venv/bin/python"), "{msg}");
        assert!(msg.contains("make venv"), "{msg}");
    }
}
