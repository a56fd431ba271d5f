//! Links without ARP or multicast between two lab routers, standing in for WireGuard or GRE
//! (the WireGuard module is not available here): a veth pair with `arp off` and
//! `multicast off`, or a pair of tun devices whose packets the test relays.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::sched::{setns, CloneFlags};

use super::Lab;

/// A veth pair `name` between routers `a` and `b` with ARP and multicast off, addresses
/// `a_addr`/`b_addr` (with prefix), up. Both ends share one MAC: on a NOARP link the kernel
/// sends to the link's own address, which the peer then accepts as its own.
pub fn veth_without_arp(lab: &Lab, name: &str, a: usize, a_addr: &str, b: usize, b_addr: &str) {
    let (tmp_a, tmp_b) = (
        format!("{}{name}a", lab.prefix()),
        format!("{}{name}b", lab.prefix()),
    );
    let mac = "02:76:74:00:0f:01";
    super::run_ok(&[
        "ip", "link", "add", &tmp_a, "address", mac, "type", "veth", "peer", "name", &tmp_b,
        "address", mac,
    ]);
    for (tmp, router, addr) in [(&tmp_a, a, a_addr), (&tmp_b, b, b_addr)] {
        let ns = lab.router_ns(router);
        super::run_ok(&["ip", "link", "set", tmp, "netns", ns, "name", name]);
        lab.exec_ok(
            ns,
            &format!(
                "ip link set {name} arp off multicast off && ip addr add {addr} dev {name} && \
                 ip link set {name} up"
            ),
        );
    }
}

/// Two tun devices (point-to-point, no ARP, no Ethernet address), `name` in routers `a` and
/// `b`, joined by threads that copy every packet from one to the other. Stops on drop.
pub struct TunPair {
    stop: Arc<AtomicBool>,
    relays: Vec<JoinHandle<()>>,
}

impl TunPair {
    /// `a_addr`/`b_addr` are the local addresses, each the other's point-to-point peer.
    pub fn new(lab: &Lab, name: &str, a: usize, a_addr: &str, b: usize, b_addr: &str) -> TunPair {
        let fd_a = open_tun(lab.router_ns(a), name);
        let fd_b = open_tun(lab.router_ns(b), name);
        for (router, local, peer) in [(a, a_addr, b_addr), (b, b_addr, a_addr)] {
            lab.exec_ok(
                lab.router_ns(router),
                &format!("ip addr add {local} peer {peer} dev {name} && ip link set {name} up"),
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (fd_a, fd_b) = (Arc::new(fd_a), Arc::new(fd_b));
        let relays = vec![
            relay(fd_a.clone(), fd_b.clone(), stop.clone()),
            relay(fd_b, fd_a, stop.clone()),
        ];
        TunPair { stop, relays }
    }
}

impl Drop for TunPair {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for relay in self.relays.drain(..) {
            let _ = relay.join();
        }
    }
}

/// Creates tun device `name` in namespace `ns` (from a thread that entered it).
fn open_tun(ns: &str, name: &str) -> File {
    let path = format!("/run/netns/{ns}");
    let name = name.to_owned();
    std::thread::spawn(move || {
        let netns = File::open(&path).expect("open netns");
        setns(&netns, CloneFlags::CLONE_NEWNET).expect("setns");
        let tun = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .expect("open /dev/net/tun");
        // struct ifreq: 16 bytes of name, then the flags (short).
        let mut request = [0u8; 40];
        request[..name.len()].copy_from_slice(name.as_bytes());
        let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as u16;
        request[16..18].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes a struct ifreq, which `request` is large enough
        // to hold; the descriptor is a fresh /dev/net/tun.
        let rc = unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, request.as_mut_ptr()) };
        assert!(
            rc == 0,
            "TUNSETIFF {name}: {}",
            std::io::Error::last_os_error()
        );
        tun
    })
    .join()
    .expect("tun thread")
}

/// Copies packets from `from` to `to` until `stop`; waits at most 50 ms per poll.
fn relay(from: Arc<File>, to: Arc<File>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 65536];
        while !stop.load(Ordering::SeqCst) {
            let mut poll = libc::pollfd {
                fd: from.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, 50) };
            if ready <= 0 {
                continue;
            }
            // SAFETY: the buffer is valid for its length; the descriptors stay open.
            let n =
                unsafe { libc::read(from.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
            if n <= 0 {
                continue;
            }
            // SAFETY: writes the `n` bytes just read.
            unsafe { libc::write(to.as_raw_fd(), buffer.as_ptr().cast(), n as usize) };
        }
    })
}
