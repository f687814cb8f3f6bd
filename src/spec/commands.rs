//! Faults through commands, for a cluster the harness does not run (the
//! external backend): a `[commands.<fault>]` table names the shell command
//! that injects the fault and, optionally, the one that heals it.
//!
//! ```toml
//! [commands.hard_shutdown]
//! inject = "kubectl delete pod --grace-period=0 --force kafka-{node}"
//! heal = ""                        # optional: Kubernetes brings the pod back
//! timeout = "60s"                  # per command (default 60 s)
//! ```
//!
//! The table sits in a spec or in a file of its own (`--faults FILE`, only
//! `[commands.*]` tables) shared by many specs; the file's command for a
//! fault kind wins over a spec's. A command runs with `sh -c`, with
//! `KAFKA_CHAOS_*` environment variables that say what to hit; `{node}`,
//! `{host}`, `{port}`, `{nodes}`, `{topic}`, `{partition}`, `{run_id}`,
//! `{fault}` and `{bootstrap}` in its text are replaced by the same values,
//! shell-quoted. Unknown placeholders are refused when the table is read.
//!
//! [`check_external`] decides, before anything runs, whether a set of specs
//! may run against an external cluster at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ExperimentSpec, FaultKind, SpecError};

/// The placeholders a command may use, and the environment variable each
/// one mirrors.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("node", "KAFKA_CHAOS_NODE"),
    ("host", "KAFKA_CHAOS_NODE_HOST"),
    ("port", "KAFKA_CHAOS_NODE_PORT"),
    ("nodes", "KAFKA_CHAOS_NODES"),
    ("topic", "KAFKA_CHAOS_TOPIC"),
    ("partition", "KAFKA_CHAOS_PARTITION"),
    ("run_id", "KAFKA_CHAOS_RUN_ID"),
    ("fault", "KAFKA_CHAOS_FAULT"),
    ("bootstrap", "KAFKA_CHAOS_BOOTSTRAP"),
];

/// How long a command may run unless its table says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

/// The commands of one fault kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultCommand {
    /// Injects the fault (required).
    pub inject: String,
    /// Heals it; none (or empty) when the infrastructure heals by itself
    /// (a Kubernetes pod comes back), and the harness only waits.
    #[serde(default)]
    pub heal: Option<String>,
    /// How long each command may run before it is killed.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl FaultCommand {
    /// The heal command, if there is one that is not blank.
    pub fn heal(&self) -> Option<&str> {
        self.heal.as_deref().filter(|h| !h.trim().is_empty())
    }
}

/// Commands by fault kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FaultCommands(BTreeMap<String, FaultCommand>);

impl FaultCommands {
    pub fn get(&self, kind: FaultKind) -> Option<&FaultCommand> {
        self.0.get(kind.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `other`'s commands on top of these (theirs win).
    pub fn extend(&mut self, other: &FaultCommands) {
        self.0
            .extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

const KINDS: &[FaultKind] = &[
    FaultKind::CleanShutdown,
    FaultKind::HardShutdown,
    FaultKind::Pause,
    FaultKind::CleanBounce,
    FaultKind::HardBounce,
    FaultKind::NetworkCut,
    FaultKind::Latency,
    FaultKind::Isolate,
];

/// Checks a `[commands]` table as written: fault names, non-empty inject
/// commands, known placeholders, a timeout. Messages name the field.
pub fn check(raw: &BTreeMap<String, FaultCommand>) -> Result<FaultCommands, String> {
    for (kind, c) in raw {
        if !KINDS.iter().any(|k| k.as_str() == kind) {
            return Err(format!(
                "`[commands.{kind}]`: unknown fault (expected one of {})",
                KINDS
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if c.inject.trim().is_empty() {
            return Err(format!("field `commands.{kind}.inject` is empty"));
        }
        if c.timeout.is_zero() {
            return Err(format!(
                "field `commands.{kind}.timeout` must be more than 0"
            ));
        }
        for (field, text) in [("inject", Some(c.inject.as_str())), ("heal", c.heal())] {
            if let Some(text) = text {
                check_placeholders(text)
                    .map_err(|m| format!("field `commands.{kind}.{field}`: {m}"))?;
            }
        }
    }
    Ok(FaultCommands(raw.clone()))
}

/// Refuses `{name}` placeholders that are not in [`PLACEHOLDERS`] (`{{`
/// writes a literal brace).
fn check_placeholders(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('{') {
            rest = stripped;
            continue;
        }
        let Some(end) = after.find('}') else {
            return Err("a `{` without its `}` (write `{{` for a literal brace)".into());
        };
        let name = &after[..end];
        if !PLACEHOLDERS.iter().any(|(p, _)| *p == name) {
            return Err(format!(
                "unknown placeholder `{{{name}}}` (known: {})",
                PLACEHOLDERS
                    .iter()
                    .map(|(p, _)| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// A value as one shell word: as it is when it is plain, else single-quoted.
pub fn shell_quote(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:,/@+=".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

/// The command text with its placeholders replaced (shell-quoted) by
/// `values` (placeholder name → value); `{{` and `}}` become braces.
pub fn expand(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let c = &rest[i..];
        if c.starts_with("{{") || c.starts_with("}}") {
            out.push_str(&c[..1]);
            rest = &c[2..];
            continue;
        }
        if let (true, Some(end)) = (c.starts_with('{'), c.find('}')) {
            let name = &c[1..end];
            if let Some(v) = values.get(name) {
                out.push_str(&shell_quote(v));
                rest = &c[end + 1..];
                continue;
            }
        }
        out.push_str(&c[..1]);
        rest = &c[1..];
    }
    out.push_str(rest);
    out
}

/// A `--faults FILE`: only `[commands.*]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    commands: BTreeMap<String, FaultCommand>,
}

/// Reads and checks a `--faults FILE`.
pub fn load_file(path: &Path) -> Result<FaultCommands, SpecError> {
    let invalid = |message: String| SpecError::Invalid {
        file: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let raw: RawFile = toml::from_str(&text).map_err(|e| invalid(e.message().to_string()))?;
    if raw.commands.is_empty() {
        return Err(invalid(
            "no `[commands.<fault>]` table (e.g. [commands.hard_shutdown] inject = \"…\")".into(),
        ));
    }
    check(&raw.commands).map_err(invalid)
}

/// The hosts of a bootstrap list (`host:port,…`; `[v6]:port` too).
pub fn bootstrap_hosts(bootstrap: &str) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for h in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let host = match a.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
                _ => a,
            };
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase()
        })
    {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    hosts
}

/// Whether specs may run against the external cluster at `bootstrap`, checked
/// before anything runs: every fault kind a spec uses has a command (the
/// harness cannot stop, freeze or cut off a broker it does not run), no
/// spec sets broker properties (a cluster's configuration is its owner's;
/// topic configs go to the experiment's topic), and — since faults are
/// destructive — `allow` (`--allow-faults-on`) names a bootstrap host.
pub fn check_external(
    specs: &[ExperimentSpec],
    bootstrap: &str,
    allow: &[String],
) -> Result<(), String> {
    let hosts = bootstrap_hosts(bootstrap);
    if hosts.is_empty() {
        return Err("--backend external needs --bootstrap HOST:PORT[,…]".into());
    }
    let mut faulted = Vec::new();
    for s in specs {
        let file = s.file.display();
        if let Some(k) = s.broker_properties.keys().next() {
            return Err(format!(
                "{file}: field `broker.{k}` is a broker property: the harness cannot set it on a cluster it does not run (topic configs, such as min.insync.replicas, go to the experiment's topic)"
            ));
        }
        for step in &s.faults {
            if s.commands.get(step.kind).is_none() {
                return Err(format!(
                    "{file}: fault `{kind}` needs a command on the external backend: the harness cannot {what} a broker it does not run; add `[commands.{kind}]` with `inject` (and `heal`) to the spec or to a --faults FILE",
                    kind = step.kind,
                    what = match step.kind {
                        FaultKind::Pause => "freeze",
                        FaultKind::Isolate => "cut the links of",
                        FaultKind::NetworkCut | FaultKind::Latency =>
                            "put a proxy in front of (its brokers advertise their own addresses to the producer)",
                        _ => "stop or start",
                    }
                ));
            }
        }
        if !s.faults.is_empty() {
            faulted.push(s.name.as_str());
        }
    }
    if faulted.is_empty() {
        return Ok(());
    }
    let allowed: Vec<String> = allow.iter().map(|h| h.to_ascii_lowercase()).collect();
    if allowed.is_empty() {
        return Err(format!(
            "{} inject(s) faults into the external cluster at {bootstrap}: pass --allow-faults-on HOST with one of its bootstrap hosts ({}) to allow it (a typo in --bootstrap must not take down another cluster)",
            faulted.join(", "),
            hosts.join(", ")
        ));
    }
    if !allowed.iter().any(|a| hosts.contains(a)) {
        return Err(format!(
            "--allow-faults-on {} matches none of the bootstrap hosts ({}): faults are not allowed on {bootstrap}",
            allow.join(","),
            hosts.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(inject: &str) -> FaultCommand {
        FaultCommand {
            inject: inject.into(),
            heal: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    #[test]
    fn tables_name_known_faults_and_placeholders() {
        let ok = BTreeMap::from([("hard_shutdown".to_string(), cmd("kill {node} {{x}}"))]);
        assert!(check(&ok).unwrap().get(FaultKind::HardShutdown).is_some());
        let bad = BTreeMap::from([("explode".to_string(), cmd("x"))]);
        assert!(check(&bad).unwrap_err().contains("unknown fault"));
        let bad = BTreeMap::from([("pause".to_string(), cmd("kill {nod}"))]);
        let msg = check(&bad).unwrap_err();
        assert!(
            msg.contains("commands.pause.inject") && msg.contains("{nod}"),
            "{msg}"
        );
        let bad = BTreeMap::from([("pause".to_string(), cmd("  "))]);
        assert!(check(&bad).unwrap_err().contains("is empty"));
    }

    #[test]
    fn placeholders_are_replaced_shell_quoted() {
        let values = BTreeMap::from([
            ("node", "2".to_string()),
            ("host", "broker 2;rm".to_string()),
            ("topic", "it's".to_string()),
        ]);
        assert_eq!(
            expand(
                "kubectl delete pod kafka-{node} # {host} {topic} {{x}}",
                &values
            ),
            r"kubectl delete pod kafka-2 # 'broker 2;rm' 'it'\''s' {x}"
        );
        assert_eq!(expand("a {unknown} }", &values), "a {unknown} }");
    }

    #[test]
    fn bootstrap_hosts_drop_ports() {
        assert_eq!(
            bootstrap_hosts("Kafka-0.example:9092, [::1]:9093,10.0.0.1,kafka-0.example:9093"),
            vec!["kafka-0.example", "::1", "10.0.0.1"]
        );
    }

    fn spec(text: &str) -> ExperimentSpec {
        ExperimentSpec::parse(
            "x",
            Path::new("experiments/x.toml"),
            text,
            super::super::Profile::Full,
        )
        .unwrap()
    }

    const FAULTY: &str = "description = \"d\"\nmode = \"async\"\nrecords = 10\nfault = \"hard_shutdown\"\nfault_after = 5\ndowntime = \"1s\"\n";

    #[test]
    fn external_runs_need_commands_and_permission() {
        let s = spec(FAULTY);
        let msg = check_external(std::slice::from_ref(&s), "k:9092", &[]).unwrap_err();
        assert!(msg.contains("[commands.hard_shutdown]"), "{msg}");
        let s = spec(&format!(
            "{FAULTY}[commands.hard_shutdown]\ninject = \"kill {{node}}\"\n"
        ));
        let msg = check_external(std::slice::from_ref(&s), "k:9092", &[]).unwrap_err();
        assert!(msg.contains("--allow-faults-on HOST"), "{msg}");
        let msg = check_external(std::slice::from_ref(&s), "k:9092", &["prod".into()]).unwrap_err();
        assert!(msg.contains("matches none"), "{msg}");
        check_external(std::slice::from_ref(&s), "k:9092", &["K".into()]).unwrap();
        let none = spec("description = \"d\"\nmode = \"async\"\nrecords = 10\n");
        check_external(&[none], "k:9092", &[]).unwrap();
        let props = spec("description = \"d\"\nmode = \"async\"\nrecords = 10\nbrokers = 3\n[broker]\n\"replica.lag.time.max.ms\" = 1000\n");
        assert!(check_external(&[props], "k:9092", &[])
            .unwrap_err()
            .contains("broker property"));
    }
}
