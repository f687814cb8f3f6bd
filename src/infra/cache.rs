//! The set-up's cache folder, where `make setup` puts the Kafka jars
//! (`kafka-<version>/`) and the Python virtual environment (`venv/`).

use std::path::PathBuf;

/// `$KAFKA_CHAOS_CACHE`, or `~/.cache/kafka-chaos`.
pub fn cache_dir() -> PathBuf {
    // An empty variable counts as unset (make exports unset variables empty).
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(p) = var("KAFKA_CHAOS_CACHE") {
        return PathBuf::from(p);
    }
    let home = var("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache").join("kafka-chaos")
}
