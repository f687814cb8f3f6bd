//! `kafka-chaos broker`: a broker (or a cluster) to explore by hand, as in
//! the tutorial: topics are created on first use unless `--topic` names them,
//! and faults are driven from the keyboard or stdin ([`super::hand`]) until
//! `q` or Ctrl+C. Also the broker options every command that starts one
//! shares.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::output::{err_line, fail, out_line};
use super::signal::interrupt_token;
use super::{exit, hand};
use crate::broker::{self, Backend, Broker, BrokerConfig, Jit};
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
    /// How the broker JVMs compile: `quick` (the client compiler only,
    /// -XX:TieredStopAtLevel=1) starts and recovers a broker on about 40 %
    /// less CPU, which is what a machine running several brokers waits on;
    /// `full` is the JVM's default, as Kafka runs in production. Neither
    /// changes what Kafka does, only how fast its code runs.
    #[arg(long, value_enum, default_value_t = Jit::Quick, env = "KAFKA_CHAOS_BROKER_JIT")]
    pub broker_jit: Jit,
}

impl BrokerArgs {
    pub(crate) fn config(&self, run_label: &str) -> BrokerConfig {
        let mut c = BrokerConfig::new(self.backend, run_label);
        c.kafka_version = self.kafka_version.clone();
        c.image = self.image.clone();
        c.kafka_home = self.kafka_home.clone();
        c.port = self.port;
        c.ready_timeout = self.ready_timeout;
        c.jit = self.broker_jit;
        c
    }
}

/// `kafka-chaos broker`: the broker options, how many nodes, which topics,
/// and which nodes the controls hit.
#[derive(Debug, Clone, Args)]
pub struct BrokerCommandArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// How many KRaft nodes (1 to 5): with more than one, a cluster whose
    /// nodes each listen on their own 127.0.0.1 port.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=broker::MAX_NODES as i64))]
    pub brokers: u8,
    /// Create this topic up front (repeatable) and create no other on first
    /// use [default: every topic is created the first time a client asks for
    /// it, as the tutorial's scripts expect].
    #[arg(long = "topic", value_name = "NAME")]
    pub topics: Vec<String>,
    /// Partitions of the --topic topics and of topics created on first use.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
    /// The node the keyboard's and stdin's controls hit when they name none
    /// [default: every node].
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(i32).range(1..=broker::MAX_NODES as i64))]
    pub node: Option<i32>,
    /// Where the nodes keep their logs: the disk, or a mount per node that
    /// keeps writes in memory until they are fsynced (as `power_loss`
    /// experiments do).
    #[arg(long, value_enum, default_value_t = broker::Storage::Disk)]
    pub storage: broker::Storage,
}

pub(crate) async fn broker_command(args: &BrokerCommandArgs) -> i32 {
    if args.broker.backend == Backend::External {
        err_line!(
            "error: `kafka-chaos broker` starts a broker: --backend external has none to start"
        );
        return exit::CANNOT_RUN;
    }
    let cancel = interrupt_token();
    let label = format!("broker-{}", run::new_run_id());
    let mut cfg = args.broker.config(&label);
    cfg.brokers = usize::from(args.brokers);
    if let Some(n) = args.node.filter(|n| *n as usize > cfg.brokers) {
        err_line!(
            "error: --node {n}: there are only {} node(s) (--brokers)",
            cfg.brokers
        );
        return exit::CANNOT_RUN;
    }
    let replicas = cfg.brokers.min(3);
    let auto_create = args.topics.is_empty();
    if auto_create {
        // This command only: the tutorial's scripts rely on it (and its
        // fire-and-forget script writes to a misspelt topic).
        for (k, v) in [
            ("auto.create.topics.enable", "true".to_string()),
            ("num.partitions", args.partitions.to_string()),
            ("default.replication.factor", replicas.to_string()),
        ] {
            cfg.properties.insert(k.into(), v);
        }
    }
    cfg.storage = args.storage;
    let started = std::time::Instant::now();
    let broker = tokio::select! {
        b = Broker::start(&cfg) => b,
        _ = cancel.cancelled() => return exit::INTERRUPTED,
    };
    let mut broker = match broker {
        Ok(b) => b,
        Err(e) => return fail(&anyhow::Error::new(e), exit::CANNOT_RUN),
    };
    for topic in &args.topics {
        if let Err(e) = broker.create_topic(topic, args.partitions).await {
            broker.remove().await;
            return fail(
                &anyhow::Error::new(e).context(format!("creating topic {topic}")),
                exit::CANNOT_RUN,
            );
        }
    }
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
    let partitions = if args.partitions == 1 {
        "1 partition".to_string()
    } else {
        format!("{} partitions", args.partitions)
    };
    if auto_create {
        out_line!(
            "topics: created on first use (auto.create.topics.enable=true), {partitions}, replication factor {replicas}"
        );
    } else {
        out_line!(
            "topics: {} created ({partitions}, replication factor {replicas}); no other topic is created on first use (auto.create.topics.enable=false)",
            args.topics.join(", ")
        );
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
    let default_nodes: Vec<i32> = match args.node {
        Some(n) => vec![n],
        None => broker.node_ids(),
    };
    let clock = hand::Clock::start();
    let mut input = hand::Input::start(broker.brokers());
    if input.background {
        out_line!("keys are off: stdin is a terminal this process does not own (started in the background?)");
    } else {
        out_line!("{}", hand::help(input.tty, broker.brokers()));
    }
    out_line!("press Ctrl+C (or q) to stop and remove it");
    let mut stdin_open = true;
    loop {
        let control = tokio::select! {
            c = input.next(), if stdin_open => c,
            _ = cancel.cancelled() => break,
        };
        let control = match control {
            None => {
                // stdin ended (a closed pipe, /dev/null): run on until Ctrl+C.
                stdin_open = false;
                continue;
            }
            Some(Err(e)) => {
                out_line!("? {e}");
                continue;
            }
            Some(Ok(c)) => c,
        };
        let quit = tokio::select! {
            q = hand::execute(&mut broker, &control, &default_nodes, cfg.ready_timeout, &clock, input.tty) => q,
            _ = cancel.cancelled() => true,
        };
        if quit {
            break;
        }
    }
    drop(input);
    broker.remove().await;
    out_line!("broker removed");
    exit::SUCCESS
}
