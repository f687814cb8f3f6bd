//! A few Kafka requests that librdkafka's admin API does not offer, spoken
//! on the wire with the `kafka-protocol` crate's generated messages:
//!
//! - which node is the active controller (`DescribeQuorum`: in KRaft, the
//!   metadata response's controller id is any live broker, not the
//!   controller);
//! - a partition's leader *epoch*, replicas and ISR (`Metadata` v12);
//! - the log end offset of one replica, asked of the node that holds it
//!   (`ListOffsets` as the debugging replica, which any replica answers).
//!
//! The versions are ones every supported Kafka (3.6 to 4.x) accepts, so no
//! version negotiation is needed.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    DescribeQuorumRequest, ListOffsetsRequest, MetadataRequest, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `Metadata` v12: leader epochs, topic ids; served by Kafka 3.6 to 4.x.
const METADATA_VERSION: i16 = 12;
/// `ListOffsets` v7 (3.6 serves up to 8, 4.x from 1).
const LIST_OFFSETS_VERSION: i16 = 7;
/// `DescribeQuorum` v1 (3.6 serves up to 1, 4.x up to 2).
const DESCRIBE_QUORUM_VERSION: i16 = 1;
/// The replica id of a debugging client: any replica answers it, leader or not.
const DEBUGGING_REPLICA_ID: i32 = -2;
/// `ListOffsets` timestamp meaning "the end of the log".
const LATEST_TIMESTAMP: i64 = -1;
/// KRaft's metadata log.
const METADATA_TOPIC: &str = "__cluster_metadata";
/// Responses larger than this are refused (ours are a few kB).
const MAX_RESPONSE: usize = 16 << 20;

/// Why a wire request failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("{api} to {addr}: {reason}")]
    Io {
        api: &'static str,
        addr: String,
        reason: String,
    },
    #[error("{api} to {addr}: cannot encode or decode: {reason}")]
    Codec {
        api: &'static str,
        addr: String,
        reason: String,
    },
    #[error("{api} to {addr}: Kafka error code {code}{message}")]
    Kafka {
        api: &'static str,
        addr: String,
        code: i16,
        message: String,
    },
    #[error("{api} to {addr}: {what} missing from the response")]
    Missing {
        api: &'static str,
        addr: String,
        what: String,
    },
}

/// The KRaft quorum as its leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumState {
    /// The active controller's node id.
    pub leader_id: i32,
    pub leader_epoch: i32,
    /// The voters' node ids.
    pub voters: Vec<i32>,
}

/// One partition as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub partition: i32,
    /// The leader's node id, or -1 if it has none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

/// One connection to one node; requests go one at a time.
pub struct Conn {
    addr: String,
    stream: TcpStream,
    next_correlation: i32,
    timeout: Duration,
}

impl Conn {
    /// Connects to `addr` (`host:port`) within `timeout`; every request on
    /// the connection gets the same bound.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Conn, WireError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| WireError::Connect {
                addr: addr.to_string(),
                reason: format!("no answer within {timeout:?}"),
            })?
            .map_err(|e| WireError::Connect {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            addr: addr.to_string(),
            stream,
            next_correlation: 1,
            timeout,
        })
    }

    /// Sends `request` as `version` and reads its response.
    pub async fn call<R: Request>(
        &mut self,
        api: &'static str,
        request: &R,
        version: i16,
    ) -> Result<R::Response, WireError> {
        let codec = |e: anyhow::Error| WireError::Codec {
            api,
            addr: self.addr.clone(),
            reason: format!("{e:#}"),
        };
        let correlation = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("kafka-chaos")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .map_err(codec)?;
        request.encode(&mut body, version).map_err(codec)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);

        let io = |reason: String| WireError::Io {
            api,
            addr: self.addr.clone(),
            reason,
        };
        let exchange = async {
            self.stream.write_all(&frame).await?;
            let len = self.stream.read_i32().await?;
            if len < 0 || len as usize > MAX_RESPONSE {
                return Err(std::io::Error::other(format!("response of {len} bytes")));
            }
            let mut buf = vec![0u8; len as usize];
            self.stream.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        let raw = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| io(format!("no response within {:?}", self.timeout)))?
            .map_err(|e| io(e.to_string()))?;
        let mut bytes = Bytes::from(raw);
        let header = ResponseHeader::decode(
            &mut bytes,
            <R::Response as HeaderVersion>::header_version(version),
        )
        .map_err(codec)?;
        if header.correlation_id != correlation {
            return Err(io(format!(
                "response to request {} where {correlation} was expected",
                header.correlation_id
            )));
        }
        let response = R::Response::decode(&mut bytes, version).map_err(codec)?;
        if bytes.has_remaining() {
            tracing::debug!(api, left = bytes.remaining(), "response had trailing bytes");
        }
        Ok(response)
    }

    fn kafka_error(&self, api: &'static str, code: i16, message: Option<&StrBytes>) -> WireError {
        WireError::Kafka {
            api,
            addr: self.addr.clone(),
            code,
            message: message
                .map(|m| format!(": {}", m.as_str()))
                .unwrap_or_default(),
        }
    }

    fn missing(&self, api: &'static str, what: impl Into<String>) -> WireError {
        WireError::Missing {
            api,
            addr: self.addr.clone(),
            what: what.into(),
        }
    }

    /// The KRaft quorum: who is the active controller. Brokers forward the
    /// request to the controller.
    pub async fn describe_quorum(&mut self) -> Result<QuorumState, WireError> {
        const API: &str = "DescribeQuorum";
        let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
        let response = self.call(API, &request, DESCRIBE_QUORUM_VERSION).await?;
        if response.error_code != 0 {
            return Err(self.kafka_error(
                API,
                response.error_code,
                response.error_message.as_ref(),
            ));
        }
        let partition = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .next()
            .ok_or_else(|| self.missing(API, "the metadata partition"))?;
        if partition.error_code != 0 {
            return Err(self.kafka_error(
                API,
                partition.error_code,
                partition.error_message.as_ref(),
            ));
        }
        Ok(QuorumState {
            leader_id: partition.leader_id.0,
            leader_epoch: partition.leader_epoch,
            voters: partition
                .current_voters
                .iter()
                .map(|v| v.replica_id.0)
                .collect(),
        })
    }

    /// Every partition of `topic`, with leader epochs.
    pub async fn topic_state(&mut self, topic: &str) -> Result<Vec<PartitionState>, WireError> {
        const API: &str = "Metadata";
        let request = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
                TopicName(StrBytes::from_string(topic.to_string())),
            ))]))
            .with_allow_auto_topic_creation(false);
        let response = self.call(API, &request, METADATA_VERSION).await?;
        let t = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(topic))
            .ok_or_else(|| self.missing(API, format!("topic {topic}")))?;
        if t.error_code != 0 {
            return Err(self.kafka_error(API, t.error_code, None));
        }
        let mut parts: Vec<PartitionState> = t
            .partitions
            .iter()
            .map(|p| PartitionState {
                partition: p.partition_index,
                leader: p.leader_id.0,
                leader_epoch: p.leader_epoch,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                offline: p.offline_replicas.iter().map(|b| b.0).collect(),
            })
            .collect();
        parts.sort_by_key(|p| p.partition);
        Ok(parts)
    }

    /// The log end offset of this node's replica of `topic`/`partition`,
    /// leader or follower.
    pub async fn replica_log_end(&mut self, topic: &str, partition: i32) -> Result<i64, WireError> {
        const API: &str = "ListOffsets";
        let request = ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(DEBUGGING_REPLICA_ID))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(LATEST_TIMESTAMP)])]);
        let response = self.call(API, &request, LIST_OFFSETS_VERSION).await?;
        let p = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| self.missing(API, format!("partition {partition}")))?;
        if p.error_code != 0 {
            return Err(self.kafka_error(API, p.error_code, None));
        }
        Ok(p.offset)
    }
}
