//! Cluster features (KIP-584) a spec pins, e.g.
//! `eligible.leader.replicas.version = 0` to run without Kafka 4.1+'s
//! eligible leader replicas (KIP-966), which clusters formatted by 4.3.1
//! have on.
//!
//! Set once the cluster is ready, before any experiment's topic exists, with
//! `UpdateFeatures` (an upgrade, or a safe downgrade, as
//! `kafka-features.sh upgrade|downgrade` sends it), then read back from
//! every node's `ApiVersions` until each reports the level. This works the
//! same on both backends and with the official image, whose entrypoint
//! formats the storage itself (a `--feature` at format time would reach
//! only the process backend). Measured on 4.3.1: the controller accepts
//! the ELR downgrade to 0 and clears the ELR fields of every partition.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::{ApiVersionsRequest, UpdateFeaturesRequest};
use kafka_protocol::protocol::StrBytes;

use super::wire::{Conn, WireError};
use super::BrokerError;

/// `ApiVersions` v3: the first with finalized features.
const API_VERSIONS_VERSION: i16 = 3;
/// `UpdateFeatures` v1: upgrade types (3.3+).
const UPDATE_FEATURES_VERSION: i16 = 1;
/// `upgrade_type` of `UpdateFeatures` v1.
const UPGRADE: i8 = 1;
const SAFE_DOWNGRADE: i8 = 2;

/// The finalized level of every feature, as the node at `addr` sees it.
pub async fn finalized(addr: &str) -> Result<BTreeMap<String, i16>, WireError> {
    let mut conn = Conn::connect(addr, Duration::from_secs(5)).await?;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("kafka-chaos"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let response = conn
        .call("ApiVersions", &request, API_VERSIONS_VERSION)
        .await?;
    Ok(response
        .finalized_features
        .iter()
        .map(|f| (f.name.to_string(), f.max_version_level))
        .collect())
}

/// Sets every feature of `wanted` on the cluster reached through `first`
/// (any node; brokers forward to the controller), then waits until every
/// node of `nodes` reports the levels.
pub async fn apply(
    first: &str,
    nodes: &[String],
    wanted: &BTreeMap<String, i16>,
    timeout: Duration,
) -> Result<(), BrokerError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let err = |e: WireError| BrokerError::Admin(format!("cluster features: {e}"));
    let current = finalized(first).await.map_err(err)?;
    let mut updates = Vec::new();
    for (name, &level) in wanted {
        let now = current.get(name).copied().unwrap_or(0);
        if now == level {
            continue;
        }
        updates.push(
            FeatureUpdateKey::default()
                .with_feature(StrBytes::from_string(name.clone()))
                .with_max_version_level(level)
                .with_upgrade_type(if level < now { SAFE_DOWNGRADE } else { UPGRADE }),
        );
    }
    if !updates.is_empty() {
        let mut conn = Conn::connect(first, Duration::from_secs(5))
            .await
            .map_err(err)?;
        let request = UpdateFeaturesRequest::default()
            .with_timeout_ms(30_000)
            .with_feature_updates(updates);
        let response = conn
            .call("UpdateFeatures", &request, UPDATE_FEATURES_VERSION)
            .await
            .map_err(err)?;
        let mut problems: Vec<String> = Vec::new();
        if response.error_code != 0 {
            problems.push(format!(
                "error code {}: {}",
                response.error_code,
                response.error_message.as_deref().unwrap_or("")
            ));
        }
        for r in &response.results {
            if r.error_code != 0 {
                problems.push(format!(
                    "{}: error code {}: {}",
                    r.feature.as_str(),
                    r.error_code,
                    r.error_message.as_deref().unwrap_or("")
                ));
            }
        }
        if !problems.is_empty() {
            return Err(BrokerError::Admin(format!(
                "cluster features refused: {}",
                problems.join("; ")
            )));
        }
    }
    // Every node applies the controller's record from its metadata log.
    let started = Instant::now();
    for addr in nodes {
        loop {
            let seen = finalized(addr).await.unwrap_or_default();
            let behind: Vec<String> = wanted
                .iter()
                .filter(|(n, l)| seen.get(*n).copied().unwrap_or(0) != **l)
                .map(|(n, l)| format!("{n}={l}"))
                .collect();
            if behind.is_empty() {
                break;
            }
            if started.elapsed() > timeout {
                return Err(BrokerError::Admin(format!(
                    "cluster features: {addr} does not report {} within {timeout:?}",
                    behind.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tracing::debug!(?wanted, "cluster features set");
    Ok(())
}
