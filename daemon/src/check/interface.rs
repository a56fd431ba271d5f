//! Interface check: the link is usable when it is administratively up and running (carrier).
//!
//! Uses `SIOCGIFFLAGS` on a fresh socket rather than /sys, because a socket belongs to the
//! caller's current network namespace while /sys reflects whatever was mounted.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use super::ProbeResult;

/// Interface flags as (up, running).
pub fn link_flags(name: &str) -> Result<(bool, bool), String> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(format!("invalid interface name {name:?}"));
    }
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a freshly created descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name and writes ifru_flags into `req`.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return Err(if err.raw_os_error() == Some(libc::ENODEV) {
            format!("interface {name} does not exist")
        } else {
            format!("interface {name}: {err}")
        });
    }
    // SAFETY: the kernel filled the flags member of the union.
    let flags = libc::c_int::from(unsafe { req.ifr_ifru.ifru_flags });
    Ok((flags & libc::IFF_UP != 0, flags & libc::IFF_RUNNING != 0))
}

/// Probe an interface: ok when up and running.
pub fn probe(name: &str) -> ProbeResult {
    let start = Instant::now();
    let res = link_flags(name);
    let latency = start.elapsed();
    match res {
        Ok((true, true)) => ProbeResult::ok(latency, "up, running"),
        Ok((true, false)) => ProbeResult::fail(latency, "up, no carrier"),
        Ok((false, _)) => ProbeResult::fail(latency, "down"),
        Err(e) => ProbeResult::fail(latency, e),
    }
}
