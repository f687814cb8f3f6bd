//! Finding a container engine that speaks the Docker API.
//!
//! Order: `DOCKER_HOST` if set; else the default Docker socket if it exists;
//! else, when `podman` is installed, a private `podman system service` that
//! this process starts on a socket of its own (in its private run directory,
//! [`crate::infra::rundir`]) and that dies with it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use testcontainers::bollard::Docker;

use super::BrokerError;
use crate::infra::supervise;

/// Where the harness's podman configuration lives, relative to the crate.
const CONTAINERS_CONF: &str = "scripts/containers.conf";

/// The container engine this process talks to.
#[derive(Debug, Clone)]
pub struct Engine {
    /// `unix:///…` address of the Docker API.
    pub host: String,
    /// Human-readable description, for logs and metadata.
    pub description: String,
}

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// Finds (or starts) the engine once per process and exports `DOCKER_HOST`
/// for testcontainers.
pub fn ensure() -> Result<Engine, BrokerError> {
    ENGINE
        .get_or_init(discover)
        .clone()
        .map_err(|reason| BrokerError::Engine { reason })
}

/// A Docker API client for the engine.
pub fn client() -> Result<Docker, BrokerError> {
    let engine = ensure()?;
    Docker::connect_with_host(&engine.host).map_err(|e| BrokerError::Engine {
        reason: format!("cannot connect to {}: {e}", engine.host),
    })
}

fn discover() -> Result<Engine, String> {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.trim().is_empty() {
            return Ok(Engine {
                description: format!("Docker API at {host} (DOCKER_HOST)"),
                host,
            });
        }
    }
    if Path::new("/var/run/docker.sock").exists() {
        let host = "unix:///var/run/docker.sock".to_string();
        set_docker_host(&host);
        return Ok(Engine {
            description: "Docker engine at /var/run/docker.sock".into(),
            host,
        });
    }
    start_podman_service()
}

fn set_docker_host(host: &str) {
    // Read by testcontainers when it first builds its client. Set once, early,
    // before any container is requested.
    std::env::set_var("DOCKER_HOST", host);
}

/// The podman configuration to use: `CONTAINERS_CONF` if set, else the
/// harness's own file (found from the working directory or the crate).
pub fn containers_conf() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CONTAINERS_CONF") {
        return Some(PathBuf::from(p));
    }
    let candidates = [
        PathBuf::from(CONTAINERS_CONF),
        Path::new(env!("CARGO_MANIFEST_DIR")).join(CONTAINERS_CONF),
    ];
    candidates.into_iter().find(|p| p.exists())
}

fn start_podman_service() -> Result<Engine, String> {
    let podman = which("podman").ok_or_else(|| {
        "no container engine: DOCKER_HOST is not set, /var/run/docker.sock does not exist \
         and podman is not installed (run `make setup`, or use --backend process)"
            .to_string()
    })?;
    // In the process's private run directory: nobody else can create the
    // socket first, nor reach the API through it.
    let dir = crate::infra::rundir::path()
        .map_err(|e| format!("cannot create the run directory: {e}"))?;
    let socket = dir.join("podman.sock");
    let host = format!("unix://{}", socket.display());

    let mut cmd = Command::new(&podman);
    cmd.args(["system", "service", "--time=0", &host])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(conf) = containers_conf() {
        cmd.env("CONTAINERS_CONF", conf);
    }
    // The service dies with this process (it owns no broker: containers are
    // supervised by conmon and cleaned up separately).
    supervise::spawn(cmd, nix::sys::signal::Signal::SIGTERM)
        .map_err(|e| format!("cannot start `podman system service`: {e}"))?;

    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        if Instant::now() > deadline {
            return Err(format!(
                "`podman system service` did not open {} within 20 s",
                socket.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    set_docker_host(&host);
    tracing::debug!(%host, "started a private podman service");
    Ok(Engine {
        description: format!("podman {} (private API service)", podman_version(&podman)),
        host,
    })
}

fn podman_version(podman: &Path) -> String {
    Command::new(podman)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().last().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Finds an executable on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
