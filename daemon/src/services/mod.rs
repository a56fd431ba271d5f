//! The runtime's services around the protocol: what turns the configuration and check
//! health into each instance's priority (`tracking`, shared by `vipd run`, `vipd check` and
//! bake's first-boot checks), and what tells the outside world about transitions
//! (`notify` scripts, `notify_fifo` named pipes). They depend on `config` and `check` and
//! are used by `runtime`; the protocol core (`vrrp`) knows nothing of them. The operator's
//! own surface (control socket, events, metrics) lives in `control`.

pub mod notify;
pub mod notify_fifo;
pub mod tracking;
