//! Core data of an experiment: what the application was told (the ledger),
//! the verdicts, the expectations and the finished result.
//!
//! Plain types and pure functions only: nothing here does I/O, talks to
//! Kafka, reads a clock or depends on another folder of the crate. Every
//! stage reads and writes these types.

pub mod command;
pub mod duration;
pub mod expect;
pub mod integrity;
pub mod ledger;
pub mod names;
pub mod plan;
pub mod powercut;
pub mod result;
pub mod spread;
pub mod verdict;
