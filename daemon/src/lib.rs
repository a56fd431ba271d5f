//! vipd: a VRRP daemon for floating virtual IPs.
//!
//! The crate is split into a sans-I/O protocol core (`vrrp`), the configuration model and
//! readers (`config`), the network shell (`net`), health checks (`check`) and the runtime
//! that joins them (`runtime`), the services around the protocol (`services`: check ->
//! priority tracking, notify scripts and FIFOs) and the operator's surface (`control`).

pub mod atomic_file;
pub mod check;
pub mod compat;
pub mod config;
pub mod control;
pub mod net;
pub mod pidfile;
pub mod runtime;
pub mod services;
pub mod url;
pub mod vrrp;
