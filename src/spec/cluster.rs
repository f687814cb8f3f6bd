//! The cluster a spec runs on: `brokers` (1 to 5 KRaft nodes),
//! `replication_factor` of its topic, and a `[broker]` table of Kafka
//! properties passed through — topic configs (such as `flush.messages`, and
//! `min.insync.replicas` or `unclean.leader.election.enable`, which are broker
//! defaults too) to the experiment's topic, the other broker properties to
//! every node's configuration. A topic config scopes the setting to the
//! experiment and lets consecutive specs share one cluster.
//!
//! A `[features]` table pins cluster features (KIP-584) by level, e.g.
//! `"eligible.leader.replicas.version" = 0` for a cluster without eligible
//! leader replicas (KIP-966, on by default in clusters formatted by 4.1+).
//!
//! Property names are checked against the names of Kafka 4.3.1, kept in
//! `kafka-broker-properties.txt` and `kafka-topic-properties.txt` beside
//! this file (regenerate with `scripts/dev/KafkaPropertyNames.java`), so a
//! typo is refused when the spec loads, not half-way through a run.

use std::collections::BTreeMap;

/// The most brokers (KRaft nodes) a spec may ask for.
pub const MAX_NODES: usize = 5;

const BROKER_PROPERTIES: &str = include_str!("kafka-broker-properties.txt");
const TOPIC_PROPERTIES: &str = include_str!("kafka-topic-properties.txt");

/// Properties the harness sets itself: they define the cluster's topology.
const OWNED_BY_HARNESS: &[&str] = &[
    "advertised.listeners",
    "controller.listener.names",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "listeners",
    "log.dir",
    "log.dirs",
    "node.id",
    "process.roles",
];

fn names(list: &'static str) -> impl Iterator<Item = &'static str> {
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The features of Kafka 4.3.1 a spec may pin (`metadata.version` and
/// `kraft.version` define the cluster and are the harness's).
pub const FEATURES: &[&str] = &[
    "eligible.leader.replicas.version",
    "group.version",
    "share.version",
    "streams.version",
    "transaction.version",
];

/// Checks a `[features]` table: known names, levels 0 to 32767.
pub fn check_features(
    raw: &BTreeMap<String, toml::Value>,
) -> Result<BTreeMap<String, i16>, String> {
    let mut out = BTreeMap::new();
    for (name, v) in raw {
        if !FEATURES.contains(&name.as_str()) {
            return Err(format!(
                "field `features.{name}`: not a feature a spec can set (known: {})",
                FEATURES.join(", ")
            ));
        }
        let level = v
            .as_integer()
            .and_then(|l| i16::try_from(l).ok())
            .filter(|l| *l >= 0)
            .ok_or_else(|| format!("field `features.{name}` must be a level from 0 to 32767"))?;
        out.insert(name.clone(), level);
    }
    Ok(out)
}

/// Where a `[broker]` property goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyKind {
    /// A broker property (every node's configuration).
    Broker,
    /// A topic config (the experiment's topic), even if the broker has a
    /// default of the same name.
    Topic,
}

/// Classifies a property name, or explains why it cannot be used.
pub fn classify(name: &str) -> Result<PropertyKind, String> {
    if OWNED_BY_HARNESS.contains(&name) {
        return Err(format!(
            "`{name}` is set by the harness (it defines the cluster's listeners and quorum)"
        ));
    }
    if names(TOPIC_PROPERTIES).any(|n| n == name) {
        return Ok(PropertyKind::Topic);
    }
    if names(BROKER_PROPERTIES).any(|n| n == name) {
        return Ok(PropertyKind::Broker);
    }
    Err(format!(
        "unknown Kafka property `{name}` (not a broker or topic property of Kafka 4.3.1)"
    ))
}

/// A checked cluster shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterSpec {
    pub brokers: usize,
    pub replication_factor: usize,
    /// Broker properties for every node.
    pub broker_properties: BTreeMap<String, String>,
    /// Topic configs for the experiment's topic.
    pub topic_configs: BTreeMap<String, String>,
}

/// Checks `brokers`, `replication_factor` and the `[broker]` table (values
/// already turned into strings). Messages name the field.
pub fn check(
    brokers: Option<usize>,
    replication_factor: Option<usize>,
    properties: &BTreeMap<String, String>,
) -> Result<ClusterSpec, String> {
    let brokers = brokers.unwrap_or(1);
    if !(1..=MAX_NODES).contains(&brokers) {
        return Err(format!(
            "field `brokers` must be from 1 to {MAX_NODES}, not {brokers}"
        ));
    }
    let replication_factor = replication_factor.unwrap_or(brokers.min(3));
    if replication_factor < 1 || replication_factor > brokers {
        return Err(format!(
            "field `replication_factor` must be from 1 to `brokers` ({brokers}), not {replication_factor}"
        ));
    }
    let mut spec = ClusterSpec {
        brokers,
        replication_factor,
        ..Default::default()
    };
    for (k, v) in properties {
        match classify(k).map_err(|m| format!("field `broker.{k}`: {m}"))? {
            PropertyKind::Broker => spec.broker_properties.insert(k.clone(), v.clone()),
            PropertyKind::Topic => spec.topic_configs.insert(k.clone(), v.clone()),
        };
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_broker_count() {
        let c = check(None, None, &BTreeMap::new()).unwrap();
        assert_eq!((c.brokers, c.replication_factor), (1, 1));
        let c = check(Some(5), None, &BTreeMap::new()).unwrap();
        assert_eq!((c.brokers, c.replication_factor), (5, 3));
    }

    #[test]
    fn shapes_out_of_range_are_refused() {
        assert!(check(Some(0), None, &BTreeMap::new())
            .unwrap_err()
            .contains("`brokers` must be from 1 to 5"));
        assert!(check(Some(6), None, &BTreeMap::new()).is_err());
        assert!(check(Some(3), Some(4), &BTreeMap::new())
            .unwrap_err()
            .contains("`replication_factor`"));
    }

    #[test]
    fn properties_are_sorted_into_broker_and_topic() {
        let c = check(
            Some(3),
            None,
            &props(&[
                ("min.insync.replicas", "2"),
                ("unclean.leader.election.enable", "true"),
                ("flush.messages", "1"),
                ("replica.lag.time.max.ms", "10000"),
            ]),
        )
        .unwrap();
        assert_eq!(c.topic_configs["min.insync.replicas"], "2");
        assert_eq!(c.topic_configs["unclean.leader.election.enable"], "true");
        assert_eq!(c.broker_properties["replica.lag.time.max.ms"], "10000");
        assert_eq!(c.topic_configs["flush.messages"], "1");
        assert!(!c.broker_properties.contains_key("flush.messages"));
        assert!(!c.broker_properties.contains_key("min.insync.replicas"));
    }

    #[test]
    fn features_are_known_names_with_levels() {
        let t = |k: &str, v: toml::Value| BTreeMap::from([(k.to_string(), v)]);
        let f = check_features(&t("eligible.leader.replicas.version", 0.into())).unwrap();
        assert_eq!(f["eligible.leader.replicas.version"], 0);
        let msg = check_features(&t("metadata.version", 20.into())).unwrap_err();
        assert!(msg.contains("`features.metadata.version`"), "{msg}");
        let msg = check_features(&t("group.version", "1".into())).unwrap_err();
        assert!(msg.contains("a level from 0"), "{msg}");
        assert!(check_features(&t("group.version", (-1).into())).is_err());
    }

    #[test]
    fn unknown_and_owned_names_are_refused_by_name() {
        let msg = check(Some(3), None, &props(&[("min.insync.replica", "2")])).unwrap_err();
        assert!(msg.contains("field `broker.min.insync.replica`"), "{msg}");
        assert!(msg.contains("unknown Kafka property"), "{msg}");
        let msg = check(Some(3), None, &props(&[("listeners", "x")])).unwrap_err();
        assert!(msg.contains("set by the harness"), "{msg}");
    }
}
