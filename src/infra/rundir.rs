//! The run directory: a private folder for what one harness process keeps
//! beside its results while it runs — the private podman service's socket
//! and the external producers' stderr logs.
//!
//! It is created on first use, under `$TMPDIR` with a random name
//! (`kafka-chaos-run-XXXXXX`, by `tempfile`, which refuses an existing
//! path) and mode 0700, so no other
//! local user can guess it, create it first, or read what is in it. It is
//! removed when the process exits (normally, or through
//! `std::process::exit`), unless [`keep`] was called (`experiment
//! --keep-run-dir`). A process killed with SIGKILL leaves it behind, in
//! `$TMPDIR` where the system's temporary-file cleaning finds it.
//!
//! One per process, not one per experiment: the podman service it holds the
//! socket of serves the whole process.

use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

struct State {
    dir: Option<tempfile::TempDir>,
    keep: bool,
    hooked: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    dir: None,
    keep: false,
    hooked: false,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    match STATE.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The run directory, created (0700, random name) on first use.
pub fn path() -> io::Result<PathBuf> {
    let mut s = state();
    if let Some(d) = &s.dir {
        return Ok(d.path().to_path_buf());
    }
    let dir = tempfile::Builder::new()
        .prefix("kafka-chaos-run-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()?;
    let path = dir.path().to_path_buf();
    s.dir = Some(dir);
    if !s.hooked {
        // SAFETY: `remove_at_exit` is a plain `extern "C"` function that
        // never unwinds (it catches nothing because it cannot panic: it
        // only takes a lock without unwrapping and removes a folder).
        let registered = unsafe { libc::atexit(remove_at_exit) } == 0;
        s.hooked = registered;
        if !registered {
            tracing::debug!("cannot register the run directory's removal at exit");
        }
    }
    tracing::debug!(path = %path.display(), "run directory created");
    Ok(path)
}

/// The run directory, if it was created.
pub fn existing() -> Option<PathBuf> {
    state().dir.as_ref().map(|d| d.path().to_path_buf())
}

/// Keeps the run directory (and what is in it) when the process ends.
pub fn keep() {
    state().keep = true;
}

/// Removes the run directory now, unless it is to be kept. Returns the
/// path of a kept one. Nothing may use the run directory afterwards (a
/// later [`path`] creates a new one).
pub fn finish() -> Option<PathBuf> {
    let mut s = state();
    let dir = s.dir.take()?;
    if s.keep {
        let path = dir.keep();
        return Some(path);
    }
    if let Err(e) = dir.close() {
        tracing::debug!("cannot remove the run directory: {e}");
    }
    None
}

extern "C" fn remove_at_exit() {
    let _ = finish();
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_run_directory_is_private_and_stays_the_same() {
        let a = path().unwrap();
        let b = path().unwrap();
        assert_eq!(a, b);
        let mode = std::fs::metadata(&a).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        let name = a.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with("kafka-chaos-run-"), "{name}");
        assert!(name.len() > "kafka-chaos-run-".len() + 3, "random: {name}");
        assert_eq!(existing(), Some(a));
    }
}
