//! Kafka-agnostic instruments the broker stage and the producers are built
//! on: the fault-injecting TCP proxy, child processes that cannot outlive
//! the harness, and the set-up's cache folder.
//!
//! Nothing here knows about Kafka, specs or results: it depends on no other
//! folder of the crate. (A FUSE filesystem for power-loss faults will land
//! here as `infra/lazyfs/`.)

pub mod cache;
pub mod proxy;
pub mod supervise;
