//! Kafka-agnostic instruments the broker stage and the producers are built
//! on: the fault-injecting TCP proxy, child processes that cannot outlive
//! the harness, the set-up's cache folder, the process's private run
//! directory, and what the machine can hold (cores, memory).
//!
//! Nothing here knows about Kafka, specs or results: it depends on no other
//! folder of the crate. (A FUSE filesystem for power-loss faults will land
//! here as `infra/lazyfs/`.)

pub mod cache;
pub mod machine;
pub mod proxy;
pub mod rundir;
pub mod supervise;
