//! Entering the network namespace keepalived's `net_namespace NAME` names
//! (`/run/netns/NAME`, as `ip netns add` creates it).
//!
//! Only the calling thread moves, and threads started later inherit its namespace: the
//! daemon enters before it starts its runtime or opens any socket, so every socket, netlink
//! request and raw packet is in the namespace. The mount namespace stays, so the control
//! socket and the record of added addresses stay where the caller looks for them.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};

/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// The file of the namespace called `name`.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Moves the calling thread into the network namespace `name`.
pub fn enter(name: &str) -> Result<(), String> {
    let path = path(name);
    let file = File::open(&path).map_err(|e| {
        format!(
            "net_namespace {name}: cannot open {}: {e} (create it with `ip netns add {name}`)",
            path.display()
        )
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| match e {
        Errno::EPERM => format!(
            "net_namespace {name}: entering {} needs CAP_SYS_ADMIN and setns(2), which vipd \
             is not allowed (the shipped vipd.service forbids both): set \
             NetworkNamespacePath={} in a vipd.service drop-in and remove net_namespace from \
             the configuration, or run vipd as root",
            path.display(),
            path.display()
        ),
        Errno::EINVAL => format!(
            "net_namespace {name}: {} is not a network namespace",
            path.display()
        ),
        other => format!("net_namespace {name}: entering {}: {other}", path.display()),
    })
}
