//! A KRaft node in a container, through testcontainers.
//!
//! Works with a Docker engine and with podman's Docker-compatible API (see
//! [`super::engine`]). The container shares the host's network, so the node
//! listens on the host's `127.0.0.1` on ports chosen before it is created:
//! the advertised addresses are known up front and stay the same across
//! stop/start, and the harness's proxies sit between nodes and producers
//! exactly as for local processes. The node's properties reach the image as
//! `KAFKA_*` environment variables (the official image's contract).

use std::time::Duration;

use futures::StreamExt;
use testcontainers::bollard::query_parameters::{CreateImageOptions, KillContainerOptions};
use testcontainers::bollard::Docker;
use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::topology::property_env_name;
use super::topology::NodePlan;
use super::{
    cleanup, engine, ensure_free, BrokerConfig, BrokerError, BrokerState, CLUSTER_ID, LABEL_RUN,
};

/// The official image for a Kafka version.
pub fn official_image(version: &str) -> String {
    format!("docker.io/apache/kafka:{version}")
}

/// The image `make setup` builds offline for a Kafka version.
pub fn local_image(version: &str) -> String {
    format!("localhost/kafka-chaos/kafka:{version}")
}

async fn image_present(docker: &Docker, image: &str) -> bool {
    docker.inspect_image(image).await.is_ok()
}

async fn pull(docker: &Docker, image: &str) -> Result<(), String> {
    let opts = CreateImageOptions {
        from_image: Some(image.to_string()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(opts), None, None);
    let work = async {
        while let Some(item) = stream.next().await {
            item.map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    match tokio::time::timeout(Duration::from_secs(120), work).await {
        Ok(r) => r,
        Err(_) => Err("pull timed out after 120 s".into()),
    }
}

/// Picks the image: the one asked for; else the official image if it is
/// present; else the set-up's offline build; else a pull of the official one.
pub async fn resolve_image(docker: &Docker, cfg: &BrokerConfig) -> Result<String, BrokerError> {
    if let Some(image) = &cfg.image {
        if image_present(docker, image).await {
            return Ok(image.clone());
        }
        return match pull(docker, image).await {
            Ok(()) => Ok(image.clone()),
            Err(reason) => Err(BrokerError::ImageMissing {
                image: image.clone(),
                reason: format!(
                    "not present locally, and the pull failed: {}",
                    first_line(&reason)
                ),
            }),
        };
    }
    let official = official_image(&cfg.kafka_version);
    let local = local_image(&cfg.kafka_version);
    for image in [&official, &local] {
        if image_present(docker, image).await {
            return Ok(image.clone());
        }
    }
    match pull(docker, &official).await {
        Ok(()) => Ok(official),
        Err(reason) => Err(BrokerError::ImageMissing {
            image: official,
            reason: format!(
                "neither it nor {local} is present locally, and the pull failed: {}",
                first_line(&reason)
            ),
        }),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn split_image(image: &str) -> (String, String) {
    // The tag is after the last ':' that comes after the last '/'.
    let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[slash..].rfind(':') {
        Some(i) => (
            image[..slash + i].to_string(),
            image[slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

/// A container engine and image, resolved once per cluster.
#[derive(Clone)]
pub struct ContainerImage {
    docker: Docker,
    pub image: String,
}

impl ContainerImage {
    /// Finds (or starts) the engine, removes brokers of killed runs, and
    /// picks the image.
    pub async fn resolve(cfg: &BrokerConfig) -> Result<ContainerImage, BrokerError> {
        engine::ensure()?;
        let docker = engine::client()?;
        // Housekeeping for other runs' leftovers: it must not stop this one.
        match cleanup::reap_containers(&docker, false).await {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(?removed, "removed brokers left by interrupted runs");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                "leftover brokers of interrupted runs not checked ({e}); `kafka-chaos cleanup` removes them"
            ),
        }
        let image = resolve_image(&docker, cfg).await?;
        Ok(ContainerImage { docker, image })
    }
}

/// Where the image keeps the broker's data.
const CONTAINER_DATA: &str = "/var/lib/kafka/data";

/// One KRaft node in a container. The container shares the host's network
/// (`--network host`), so its listeners are on the host's `127.0.0.1`
/// exactly as a local process's would be, and the harness's proxies sit
/// between nodes the same way on both backends.
pub struct ContainerNode {
    id: i32,
    container: Option<ContainerAsync<GenericImage>>,
    docker: Docker,
    container_id: String,
    image: String,
    version: String,
    ports: Vec<u16>,
    state: BrokerState,
    /// Signalled to stop, not yet seen stopped: `Some(true)` after SIGKILL,
    /// `Some(false)` after SIGTERM.
    exiting: Option<bool>,
}

impl ContainerNode {
    /// Creates and starts the node's container. Does not wait for readiness.
    pub async fn start(
        cfg: &BrokerConfig,
        image: &ContainerImage,
        plan: &NodePlan,
    ) -> Result<Self, BrokerError> {
        for port in &plan.ports {
            ensure_free(*port)?;
        }
        let props = plan.properties(CONTAINER_DATA);
        let (name, tag) = split_image(&image.image);
        let mut request = GenericImage::new(name, tag)
            .with_container_name(format!(
                "kafka-chaos-{}-n{}-{}",
                cfg.run_label, plan.id, plan.client_port
            ))
            .with_label(LABEL_RUN, cfg.run_label.clone())
            .with_env_var("CLUSTER_ID", CLUSTER_ID)
            .with_env_var("KAFKA_HEAP_OPTS", cfg.heap_opts.clone())
            // Read by every JVM in the container (the image's storage
            // format too), on top of Kafka's own options.
            .with_env_var("JAVA_TOOL_OPTIONS", cfg.jit.jvm_options().join(" "))
            .with_startup_timeout(cfg.ready_timeout);
        for (k, v) in cleanup::owner_labels() {
            request = request.with_label(k, v);
        }
        for (k, v) in &props {
            request = request.with_env_var(property_env_name(k), v.clone());
        }
        if let Some(dir) = &plan.data_dir {
            request = request.with_mount(Mount::bind_mount(
                dir.to_string_lossy().to_string(),
                CONTAINER_DATA,
            ));
        }
        // The host's network: listeners on the host's 127.0.0.1.
        let request = request.with_host_config_modifier(|hc| {
            hc.network_mode = Some("host".to_string());
        });
        let container = request.start().await.map_err(|e| BrokerError::Container {
            op: "start",
            reason: e.to_string(),
        })?;
        let container_id = container.id().to_string();
        tracing::debug!(node = plan.id, id = %container_id, image = %image.image, "broker container started");
        Ok(ContainerNode {
            id: plan.id,
            container: Some(container),
            docker: image.docker.clone(),
            container_id,
            image: image.image.clone(),
            version: cfg.kafka_version.clone(),
            ports: plan.ports.clone(),
            state: BrokerState::Running,
            exiting: None,
        })
    }

    pub fn source(&self) -> String {
        self.image.clone()
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// The short container id.
    pub fn id_string(&self) -> String {
        self.container_id.chars().take(12).collect()
    }

    pub fn state(&self) -> BrokerState {
        self.state
    }

    fn container(&self, op: &'static str) -> Result<&ContainerAsync<GenericImage>, BrokerError> {
        self.container.as_ref().ok_or(BrokerError::InvalidState {
            op,
            state: BrokerState::Removed,
        })
    }

    fn require(&self, op: &'static str, states: &[BrokerState]) -> Result<(), BrokerError> {
        self.state.require(op, states)
    }

    fn engine_err(op: &'static str) -> impl Fn(testcontainers::TestcontainersError) -> BrokerError {
        move |e| BrokerError::Container {
            op,
            reason: e.to_string(),
        }
    }

    /// Sends `signal` to the node's container through the engine's kill
    /// API (returns once it is delivered, without waiting for the exit).
    async fn send_signal(&self, op: &'static str, signal: &str) -> Result<(), BrokerError> {
        self.docker
            .kill_container(
                &self.container_id,
                Some(KillContainerOptions {
                    signal: signal.into(),
                }),
            )
            .await
            .map_err(|e| BrokerError::Container {
                op,
                reason: e.to_string(),
            })
    }

    /// Waits until the engine reports the container stopped, up to `timeout`.
    async fn wait_not_running(&self, timeout: Duration) -> bool {
        let Some(c) = self.container.as_ref() else {
            return true;
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !c.is_running().await.unwrap_or(false) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM delivered to the container (not `stop`, which waits): the
    /// node is on its way down; [`ContainerNode::await_exit`] waits.
    pub async fn signal_stop(&mut self) -> Result<(), BrokerError> {
        self.require("stop", &[BrokerState::Running])?;
        self.send_signal("stop", "SIGTERM").await?;
        self.state = BrokerState::Stopped;
        self.exiting = Some(false);
        Ok(())
    }

    /// SIGKILL delivered to the container.
    pub async fn signal_kill(&mut self) -> Result<(), BrokerError> {
        self.require("kill", &[BrokerState::Running, BrokerState::Paused])?;
        self.send_signal("kill", "SIGKILL").await?;
        self.state = BrokerState::Stopped;
        self.exiting = Some(true);
        Ok(())
    }

    /// Waits until a container signalled to stop has stopped: up to 60 s
    /// after SIGTERM (Kafka's controlled shutdown; then SIGKILL), 10 s after
    /// SIGKILL. Returns whether it stopped.
    pub async fn await_exit(&mut self) -> Result<bool, BrokerError> {
        match self.exiting.take() {
            None => Ok(true),
            Some(true) => Ok(self.wait_not_running(Duration::from_secs(10)).await),
            Some(false) => {
                if self.wait_not_running(Duration::from_secs(60)).await {
                    return Ok(true);
                }
                tracing::warn!(
                    node = self.id,
                    "broker did not stop within 60 s of SIGTERM; killing it"
                );
                self.send_signal("kill", "SIGKILL").await?;
                Ok(self.wait_not_running(Duration::from_secs(10)).await)
            }
        }
    }

    /// Graceful stop: SIGTERM, then wait until the container has stopped.
    pub async fn stop(&mut self) -> Result<(), BrokerError> {
        self.signal_stop().await?;
        self.await_exit().await.map(|_| ())
    }

    /// Hard kill: SIGKILL, then wait until the container has stopped.
    pub async fn kill(&mut self) -> Result<(), BrokerError> {
        self.signal_kill().await?;
        self.await_exit().await.map(|_| ())
    }

    pub async fn pause(&mut self) -> Result<(), BrokerError> {
        self.require("pause", &[BrokerState::Running])?;
        self.container("pause")?
            .pause()
            .await
            .map_err(Self::engine_err("pause"))?;
        self.state = BrokerState::Paused;
        Ok(())
    }

    pub async fn resume(&mut self) -> Result<(), BrokerError> {
        self.require("resume", &[BrokerState::Paused])?;
        self.container("resume")?
            .unpause()
            .await
            .map_err(Self::engine_err("resume"))?;
        self.state = BrokerState::Running;
        Ok(())
    }

    pub async fn start_again(&mut self) -> Result<(), BrokerError> {
        self.require("restart", &[BrokerState::Stopped])?;
        self.await_exit().await?;
        for port in &self.ports {
            ensure_free(*port)?;
        }
        self.container("restart")?
            .start()
            .await
            .map_err(Self::engine_err("restart"))?;
        self.state = BrokerState::Running;
        Ok(())
    }

    pub async fn log_tail(&self, lines: usize) -> String {
        let Some(c) = self.container.as_ref() else {
            return String::new();
        };
        let mut text = String::new();
        if let Ok(out) = c.stdout_to_vec().await {
            text.push_str(&String::from_utf8_lossy(&out));
        }
        if let Ok(err) = c.stderr_to_vec().await {
            text.push_str(&String::from_utf8_lossy(&err));
        }
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub async fn remove(mut self) {
        if let Some(c) = self.container.take() {
            if let Err(e) = c.rm().await {
                tracing::warn!(node = self.id, id = %self.container_id, "cannot remove broker container: {e}");
            }
        }
        self.state = BrokerState::Removed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_at_the_tag() {
        assert_eq!(
            split_image("localhost/kafka-chaos/kafka:4.3.1"),
            ("localhost/kafka-chaos/kafka".into(), "4.3.1".into())
        );
        assert_eq!(
            split_image("registry:5000/kafka"),
            ("registry:5000/kafka".into(), "latest".into())
        );
        assert_eq!(
            split_image("docker.io/apache/kafka:4.3.1"),
            ("docker.io/apache/kafka".into(), "4.3.1".into())
        );
    }
}
