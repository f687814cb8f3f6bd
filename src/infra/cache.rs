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

/// A folder of the cache only this user may use (`cache_dir()/name`, mode
/// 0700), created if missing. Refused if it belongs to another user: files
/// in it are trusted (the process brokers' pidfiles, which a later run reads
/// to kill orphans).
pub fn private_dir(name: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let dir = cache_dir().join(name);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{} is not a folder of this user's own", dir.display()),
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn private_folders_are_the_users_alone() {
        let name = format!("test-private-{}", std::process::id());
        let dir = private_dir(&name).unwrap();
        assert_eq!(dir, cache_dir().join(&name));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let again = private_dir(&name).unwrap();
        let mode = std::fs::metadata(&again).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        std::fs::remove_dir(&dir).unwrap();
    }
}
