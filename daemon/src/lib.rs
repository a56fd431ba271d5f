//! vipd: a VRRP daemon for floating virtual IPs.
//!
//! The crate is split into a sans-I/O protocol core (`vrrp`), the configuration model and
//! readers (`config`), the network shell (`net`), health checks (`check`) and the runtime
//! that joins them (`runtime`), plus the status protocol of the control socket (`control`).

pub mod check;
pub mod config;
pub mod control;
pub mod net;
pub mod notify;
pub mod notify_fifo;
pub mod runtime;
pub mod tracking;
pub mod url;
pub mod vrrp;
