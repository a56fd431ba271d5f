//! Who may use the control socket: the kernel tells us who is on the other end
//! (SO_PEERCRED, SO_PEERGROUPS, both fixed at connect time), and [`AccessPolicy`] decides.
//! Root, the daemon's own user and members of the configured `control_group` may do
//! everything (status, events, drain, resume, reload); anyone else is refused before the
//! request is read.

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The connecting process as the kernel saw it at `connect()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
    /// Supplementary groups (empty when the kernel cannot tell).
    pub groups: Vec<u32>,
    /// The user's name, once looked up by [`with_name`] (never on the event loop).
    pub name: Option<String>,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "uid {} ({name}) pid {}", self.uid, self.pid),
            None => write!(f, "uid {} pid {}", self.uid, self.pid),
        }
    }
}

/// Longest wait for the user database (NSS: files, but also LDAP or sssd).
const NAME_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
/// Lookups still running (a database that never answers keeps its thread); more are skipped.
const MAX_NAME_LOOKUPS: usize = 4;
static NAME_LOOKUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `peer` with its user's name, looked up on a blocking thread: the user database may be
/// slow or hang (a lookup on the event loop, for the log line of every drain, resume and
/// reload, stopped the adverts while it hung). Without an answer in time, no name.
pub async fn with_name(mut peer: Peer) -> Peer {
    use std::sync::atomic::Ordering;
    if NAME_LOOKUPS.fetch_add(1, Ordering::Relaxed) >= MAX_NAME_LOOKUPS {
        NAME_LOOKUPS.fetch_sub(1, Ordering::Relaxed);
        return peer;
    }
    let uid = peer.uid;
    let lookup = tokio::task::spawn_blocking(move || {
        let name = user_name(uid);
        NAME_LOOKUPS.fetch_sub(1, Ordering::Relaxed);
        name
    });
    if let Ok(Ok(name)) = tokio::time::timeout(NAME_LOOKUP_TIMEOUT, lookup).await {
        peer.name = name;
    }
    peer
}

fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// A group given by name or number, resolved once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlGroup {
    pub name: String,
    pub gid: u32,
}

impl ControlGroup {
    /// `text` is a group name or a numeric gid (which need not exist in /etc/group).
    pub fn resolve(text: &str) -> Result<ControlGroup, String> {
        if let Ok(gid) = text.parse::<u32>() {
            return Ok(ControlGroup {
                name: text.to_string(),
                gid,
            });
        }
        match nix::unistd::Group::from_name(text) {
            Ok(Some(group)) => Ok(ControlGroup {
                name: text.to_string(),
                gid: group.gid.as_raw(),
            }),
            Ok(None) => Err(format!("control_group {text:?}: no such group")),
            Err(e) => Err(format!("control_group {text:?}: cannot look it up: {e}")),
        }
    }
}

/// Who may talk to the control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The daemon's effective uid: a daemon running unprivileged may still be asked by
    /// processes of its own user.
    pub daemon_uid: u32,
    pub group: Option<ControlGroup>,
}

impl AccessPolicy {
    pub fn new(group: Option<ControlGroup>) -> AccessPolicy {
        AccessPolicy {
            daemon_uid: nix::unistd::geteuid().as_raw(),
            group,
        }
    }

    /// Ok when `peer` may use the socket, else the reason to send back.
    pub fn check(&self, peer: &Peer) -> Result<(), String> {
        if peer.uid == 0 || peer.uid == self.daemon_uid {
            return Ok(());
        }
        match &self.group {
            Some(group) if peer.gid == group.gid || peer.groups.contains(&group.gid) => Ok(()),
            Some(group) => Err(format!(
                "permission denied: uid {} is not root and not in control group {} (gid {})",
                peer.uid, group.name, group.gid
            )),
            None => Err(format!(
                "permission denied: uid {} is not root (no control_group is configured)",
                peer.uid
            )),
        }
    }
}

/// Most supplementary groups read (Linux allows 65536; more are ignored, never trusted).
const MAX_PEER_GROUPS: usize = 1024;
/// `SO_PEERGROUPS` (Linux 4.13, asm-generic value; the libc crate does not export it).
const SO_PEERGROUPS: libc::c_int = 59;

/// Credentials of the process at the other end of a connected Unix stream socket.
pub fn peer_of(fd: BorrowedFd<'_>) -> std::io::Result<Peer> {
    let cred = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(std::io::Error::from)?;
    Ok(Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
        groups: peer_groups(fd),
        name: None,
    })
}

fn peer_groups(fd: BorrowedFd<'_>) -> Vec<u32> {
    let mut groups = vec![0 as libc::gid_t; MAX_PEER_GROUPS];
    let mut len = libc::socklen_t::try_from(std::mem::size_of_val(groups.as_slice()))
        .unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `groups` is a writable buffer of `len` bytes that outlives the call; the kernel
    // writes at most `len` bytes and stores the size it wrote in `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERGROUPS,
            groups.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        // ERANGE (more groups than we read) or an old kernel: primary gid only.
        return Vec::new();
    }
    let count = usize::try_from(len).unwrap_or(0) / std::mem::size_of::<libc::gid_t>();
    groups.truncate(count.min(MAX_PEER_GROUPS));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer {
        Peer {
            uid,
            gid,
            pid: 42,
            groups: groups.to_vec(),
            name: None,
        }
    }

    fn policy(group: Option<u32>) -> AccessPolicy {
        AccessPolicy {
            daemon_uid: 61234,
            group: group.map(|gid| ControlGroup {
                name: "vipadm".into(),
                gid,
            }),
        }
    }

    #[test]
    fn root_and_the_daemon_user_are_always_allowed() {
        assert!(policy(None).check(&peer(0, 0, &[])).is_ok());
        assert!(policy(None).check(&peer(61234, 61234, &[])).is_ok());
    }

    #[test]
    fn without_a_control_group_everyone_else_is_refused() {
        let error = policy(None).check(&peer(1000, 1000, &[])).unwrap_err();
        assert!(error.contains("uid 1000 is not root"), "{error}");
    }

    #[test]
    fn the_control_group_counts_as_primary_or_supplementary_group() {
        let p = policy(Some(4242));
        assert!(p.check(&peer(1000, 4242, &[])).is_ok());
        assert!(p.check(&peer(1000, 1000, &[27, 4242])).is_ok());
        let error = p.check(&peer(1000, 1000, &[27])).unwrap_err();
        assert!(
            error.contains("not in control group vipadm (gid 4242)"),
            "{error}"
        );
    }

    #[test]
    fn groups_resolve_by_number_or_name() {
        assert_eq!(ControlGroup::resolve("4242").unwrap().gid, 4242);
        assert_eq!(ControlGroup::resolve("root").unwrap().gid, 0);
        let error = ControlGroup::resolve("no-such-group-vipd-test").unwrap_err();
        assert!(error.contains("no such group"), "{error}");
    }

    #[test]
    fn a_socket_pair_reports_our_own_credentials() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        use std::os::fd::AsFd;
        let peer = peer_of(a.as_fd()).unwrap();
        assert_eq!(peer.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(peer.pid, std::process::id() as i32);
        // Our own user is always allowed, whoever runs the test.
        assert!(AccessPolicy::new(None).check(&peer).is_ok());
    }
}
