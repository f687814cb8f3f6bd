//! Stage 3: the faults, aimed at a target and injected into a running
//! cluster, then healed again.
//!
//! [`target`] resolves which node(s) a fault hits (partition 0's leader, a
//! follower, the active controller, a node by id, all, or a seeded draw);
//! [`fault`] maps each [`FaultKind`] of a spec onto those nodes (signals,
//! container pause, restart) or onto the harness's proxies (network cut,
//! latency, isolation from the other brokers); [`plan`] draws what a spec
//! leaves to chance (ranges, `random` targets) before a repetition starts.
//!
//! [`fault`]: crate::chaos::fault
//! [`target`]: crate::chaos::target
//! [`plan`]: crate::chaos::plan
//! [`FaultKind`]: crate::spec::FaultKind

pub mod command;
pub mod fault;
pub mod plan;
pub mod target;
