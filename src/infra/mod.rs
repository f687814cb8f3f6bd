//! Kafka-agnostic instruments the broker stage and the producers are built
//! on: the fault-injecting TCP proxy, child processes that cannot outlive
//! the harness, the set-up's cache folder, the process's private run
//! directory, what the machine can hold (cores, memory, broker nodes at
//! once over all processes: `slots`), and the
//! filesystem that loses unsynced writes for the `power_loss` fault
//! (`lazyfs/`).
//!
//! Nothing here knows about Kafka, specs or results: it depends on no other
//! folder of the crate.

pub mod cache;
pub mod lazyfs;
pub mod machine;
pub mod proxy;
pub mod rundir;
pub mod slots;
pub mod supervise;
