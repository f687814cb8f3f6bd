//! How clients connect to a cluster the harness does not run: its security
//! settings (`--client-properties FILE`, librdkafka names: `security.protocol`,
//! `sasl.*`, `ssl.*`), applied to the producer under test and to every
//! client of the harness (admin, probes, read-back, metadata).
//!
//! The settings are registered once per cluster, keyed by its bootstrap
//! addresses ([`register`]), and every place that creates a librdkafka
//! client calls [`apply`] with the bootstrap list it connects to. Why a
//! registry and not a parameter: the bootstrap string already travels to
//! every client (producer modes, read-back, probes, benchmarks) through
//! many signatures; keying the settings by it reaches all of them without
//! changing those, and clusters on different addresses (tests run several
//! at once) never see each other's settings.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use super::SpecError;

/// Client settings by the addresses they are for.
type Registry = Vec<(Vec<String>, BTreeMap<String, String>)>;

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Vec::new()))
}

fn addresses(bootstrap: &str) -> Vec<String> {
    bootstrap
        .split(',')
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty())
        .collect()
}

/// Whether a property belongs in a client-properties file: security only
/// (producer behaviour is a spec's `[client]`, so that it is in the results).
fn allowed(key: &str) -> bool {
    key == "security.protocol"
        || key.starts_with("sasl.")
        || key.starts_with("ssl.")
        || key.starts_with("ssl_")
        || key == "enable.ssl.certificate.verification"
        || key == "client.dns.lookup"
}

/// Parses a Java-style properties file (`key=value` or `key: value`, `#`
/// and `!` comments), checks every key is a security setting librdkafka
/// knows, and returns the settings.
pub fn load(path: &Path) -> Result<BTreeMap<String, String>, SpecError> {
    let invalid = |message: String| SpecError::Invalid {
        file: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let props = parse(&text).map_err(invalid)?;
    let mut cfg = rdkafka::ClientConfig::new();
    for (k, v) in &props {
        cfg.set(k, v);
    }
    cfg.set("bootstrap.servers", "127.0.0.1:9");
    if let Err(e) = cfg.create::<rdkafka::producer::BaseProducer>() {
        return Err(invalid(format!("librdkafka refuses the settings: {e}")));
    }
    Ok(props)
}

fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut props = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            return Err(format!("line {}: expected key=value", i + 1));
        };
        let (k, v) = (k.trim(), v.trim());
        if !allowed(k) {
            return Err(format!(
                "line {}: `{k}` is not a security setting (security.protocol, sasl.*, ssl.*): producer settings belong in a spec's [client]",
                i + 1
            ));
        }
        props.insert(k.to_string(), v.to_string());
    }
    Ok(props)
}

/// Whether the settings speak plain TCP (the harness's own wire requests
/// — leader epochs, the active controller, replica log ends — need it).
pub fn is_plaintext(props: &BTreeMap<String, String>) -> bool {
    props
        .get("security.protocol")
        .is_none_or(|p| p.eq_ignore_ascii_case("plaintext"))
}

/// Registers the settings for the cluster at `bootstrap`.
pub fn register(bootstrap: &str, props: BTreeMap<String, String>) {
    let addrs = addresses(bootstrap);
    if let Ok(mut r) = registry().lock() {
        r.retain(|(a, _)| a != &addrs);
        r.push((addrs, props));
    }
}

/// The settings registered for a cluster any of whose addresses is in
/// `bootstrap` (empty when none is).
pub fn settings_for(bootstrap: &str) -> BTreeMap<String, String> {
    let addrs = addresses(bootstrap);
    registry()
        .lock()
        .ok()
        .and_then(|r| {
            r.iter()
                .find(|(a, _)| a.iter().any(|x| addrs.contains(x)))
                .map(|(_, p)| p.clone())
        })
        .unwrap_or_default()
}

/// Sets the registered settings for `bootstrap` on a client configuration.
pub fn apply(cfg: &mut rdkafka::ClientConfig, bootstrap: &str) {
    for (k, v) in settings_for(bootstrap) {
        cfg.set(k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_security_settings_are_read() {
        let p = parse(
            "# comment\nsecurity.protocol = SASL_SSL\nsasl.mechanism: PLAIN\n\nssl.ca.location=/ca.pem\n",
        )
        .unwrap();
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["sasl.mechanism"], "PLAIN");
        assert!(!is_plaintext(&p));
        let msg = parse("acks=all\n").unwrap_err();
        assert!(msg.contains("line 1") && msg.contains("[client]"), "{msg}");
        assert!(parse("junk\n").unwrap_err().contains("key=value"));
        assert!(is_plaintext(&BTreeMap::new()));
    }

    #[test]
    fn settings_follow_the_addresses() {
        register(
            "a.test:1,b.test:2",
            BTreeMap::from([("security.protocol".into(), "SSL".into())]),
        );
        assert_eq!(settings_for("B.test:2")["security.protocol"], "SSL");
        assert!(settings_for("c.test:3").is_empty());
    }
}
