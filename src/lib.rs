//! kafka-chaos: what each way of sending to Kafka really delivers when the
//! broker fails mid-stream.
//!
//! The modules follow the flow of one experiment:
//! [`spec`] → [`broker`] → [`fault`] → [`mode`] → [`verify`] → [`report`],
//! driven by [`runner`], on the core types of [`model`].

pub mod infra;
pub mod model;

pub mod bench;
pub mod broker;
pub mod chaos;
pub mod cmd;
pub mod compare;
pub mod produce;
pub mod report;
pub mod run;
pub mod spec;
pub mod verify;
