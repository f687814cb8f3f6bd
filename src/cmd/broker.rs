//! `kafka-chaos broker`: a broker to explore by hand, until Ctrl+C; and the
//! broker options every command that starts one shares.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::exit;
use super::output::{fail, out_line};
use super::signal::interrupt_token;
use crate::broker::{self, Backend, Broker, BrokerConfig};
use crate::run;

#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// How to run Kafka: a container (Docker, or podman which is started
    /// when no Docker engine is found) or a local JVM process.
    #[arg(long, value_enum, default_value_t = Backend::Container, env = "KAFKA_CHAOS_BACKEND")]
    pub backend: Backend,
    /// Container image [default: apache/kafka:<version> if present, else the
    /// image `make setup` builds offline, else a pull of apache/kafka].
    #[arg(long, env = "KAFKA_CHAOS_IMAGE")]
    pub image: Option<String>,
    /// Kafka distribution folder for --backend process (with libs/*.jar)
    /// [default: the jars `make setup` resolved from Maven Central].
    #[arg(long, env = "KAFKA_HOME")]
    pub kafka_home: Option<PathBuf>,
    /// Kafka version of the image and jars.
    #[arg(long, default_value = broker::DEFAULT_KAFKA_VERSION, env = "KAFKA_CHAOS_KAFKA_VERSION")]
    pub kafka_version: String,
    /// Host port of the bootstrap address 127.0.0.1:PORT [default: a free one].
    #[arg(long)]
    pub port: Option<u16>,
    /// How long a broker start or restart may take.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub ready_timeout: Duration,
}

impl BrokerArgs {
    pub(crate) fn config(&self, run_label: &str) -> BrokerConfig {
        let mut c = BrokerConfig::new(self.backend, run_label);
        c.kafka_version = self.kafka_version.clone();
        c.image = self.image.clone();
        c.kafka_home = self.kafka_home.clone();
        c.port = self.port;
        c.ready_timeout = self.ready_timeout;
        c
    }
}

/// `kafka-chaos broker`: the broker options, and how many nodes.
#[derive(Debug, Clone, Args)]
pub struct BrokerCommandArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// How many KRaft nodes (1 to 5): with more than one, a cluster whose
    /// nodes each listen on their own 127.0.0.1 port.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=broker::MAX_NODES as i64))]
    pub brokers: u8,
    /// Where the nodes keep their logs: the disk, or a mount per node that
    /// keeps writes in memory until they are fsynced (as `power_loss`
    /// experiments do).
    #[arg(long, value_enum, default_value_t = broker::Storage::Disk)]
    pub storage: broker::Storage,
}

pub(crate) async fn broker_command(args: &BrokerCommandArgs) -> i32 {
    let cancel = interrupt_token();
    let label = format!("broker-{}", run::new_run_id());
    let mut cfg = args.broker.config(&label);
    cfg.brokers = usize::from(args.brokers);
    cfg.storage = args.storage;
    let started = std::time::Instant::now();
    let broker = tokio::select! {
        b = Broker::start(&cfg) => b,
        _ = cancel.cancelled() => return exit::INTERRUPTED,
    };
    let broker = match broker {
        Ok(b) => b,
        Err(e) => return fail(&anyhow::Error::new(e), exit::CANNOT_RUN),
    };
    let info = broker.info();
    out_line!("bootstrap: {}", info.bootstrap);
    out_line!(
        "client bootstrap (through the harness's fault proxy): {}",
        info.client_bootstrap
    );
    if broker.brokers() > 1 {
        for id in broker.node_ids() {
            out_line!(
                "  node {id}: {}",
                broker.node_bootstrap(id).unwrap_or_default()
            );
        }
    }
    out_line!(
        "ready in {:.1} s: Kafka {} ({} backend, log on {}, {}, id {})",
        started.elapsed().as_secs_f64(),
        info.kafka_version,
        info.backend,
        cfg.storage,
        info.source,
        info.id
    );
    out_line!("press Ctrl+C to stop and remove it");
    cancel.cancelled().await;
    broker.remove().await;
    out_line!("broker removed");
    exit::SUCCESS
}
