//! kafka-chaos: what each way of sending to Kafka really delivers when the
//! broker fails mid-stream.
//!
//! The modules follow the flow of one experiment:
//! [`spec`] → [`broker`] → [`fault`] → [`mode`] → [`ledger`] → [`readback`] →
//! [`verifier`] → [`report`], driven by [`runner`].

pub mod bench;
pub mod broker;
pub mod cli;
pub mod compare;
pub mod console;
pub mod expect;
pub mod external;
pub mod fault;
pub mod ledger;
pub mod mode;
pub mod proxy;
pub mod readback;
pub mod report;
pub mod result;
pub mod runner;
pub mod spec;
pub mod supervise;
pub mod verifier;
