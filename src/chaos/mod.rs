//! Stage 3: the faults, injected into a running broker and healed again.
//!
//! [`fault`] maps each [`FaultKind`] of a spec onto the broker (signals,
//! container pause, restart) or onto its chaos proxy (network cut, latency).
//! (Fault targets in a cluster and seeded fault plans will land here.)
//!
//! [`fault`]: crate::chaos::fault
//! [`FaultKind`]: crate::spec::FaultKind

pub mod fault;
