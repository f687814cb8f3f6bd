//! Stage 5: what the broker really kept, and the verdict on every record.
//!
//! [`readback`] reads the topic back with a fresh consumer (the only I/O of
//! this stage); [`verifier`] crosses the ledger with what was read back, a
//! pure function with no I/O and no clock.
//!
//! [`readback`]: crate::verify::readback
//! [`verifier`]: crate::verify::verifier

pub mod readback;
pub mod verifier;
