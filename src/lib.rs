//! kafka-chaos: what each way of sending to Kafka really delivers when the
//! broker fails mid-stream.
//!
//! The modules follow the flow of one experiment:
//! [`spec`] → [`broker`] → [`fault`] → [`mode`] → [`ledger`] → [`readback`] →
//! [`verifier`] → [`report`], driven by [`runner`].

pub mod ledger;
pub mod report;
pub mod result;
pub mod verifier;
pub mod broker;
pub mod supervise;
pub mod spec;
pub mod mode;
