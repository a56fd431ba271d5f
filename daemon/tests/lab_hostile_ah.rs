//! Red-team round 4: replayed AH adverts (VRRPv2 `auth_type AH`, needs root). A stranger
//! (r3) records the master's adverts off the wire and sends them again, byte for byte,
//! after the master died: a backup that heard the originals drops them (their sequence
//! numbers are not above its counter) and takes over as if nothing was sent, also after a
//! restart of its own (the counter resumes at a mark kept in the state directory).

mod hostile_frames;
mod lab;
mod lab_vipd_support;

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use hostile_frames::*;
use lab::keepalived_conf::VrrpInstance;
use lab::{Lab, Segment};
use lab_vipd_support::*;
use nix::sched::{setns, CloneFlags};

/// v2 instance `VI_AH`, VRID 71, 1 s adverts, AH, VIP 192.0.2.100/24.
fn ah_conf(router: usize, priority: u8) -> String {
    let instance = VrrpInstance::new("VI_AH", "eth0", 71)
        .priority(priority)
        .version(2)
        .advert(Duration::from_secs(1))
        .line("authentication {\n        auth_type AH\n        auth_pass s3cret\n    }")
        .vip("192.0.2.100/24");
    conf(router, &[instance])
}

/// v2 with 1 s adverts: detection takes over 3 s, a loaded CI more.
const V2_SETTLE: Duration = Duration::from_secs(15);

/// The IPv4 datagrams of protocol 51 (AH) from `src` that `eth0` of namespace `ns` sees
/// during `duration`, as they were on the wire.
fn record_ah(ns: &str, src: std::net::Ipv4Addr, duration: Duration) -> Vec<Vec<u8>> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("namespace");
        setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
        let protocol = ETH_P_IP.to_be();
        // SAFETY: plain socket(2); the descriptor is owned below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(protocol)) };
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: the option value outlives the call; the length is its size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        let started = Instant::now();
        let mut seen = Vec::new();
        let mut buffer = [0u8; 2048];
        while started.elapsed() < duration {
            // SAFETY: the buffer outlives the call; the length is its size.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), 2048, 0) };
            let Ok(n) = usize::try_from(n) else { continue };
            let datagram = &buffer[..n];
            if n > 20 && datagram[9] == 51 && datagram[12..16] == src.octets() {
                seen.push(datagram.to_vec());
            }
        }
        seen
    })
    .join()
    .expect("recorder thread")
}

fn replayed(daemon: &lab::Daemon) -> u64 {
    let i = instance(daemon, "VI_AH");
    i.dropped.get("replayed").copied().unwrap_or(0)
}

/// r1 (150) master, r2 (100) backup, both vipd with AH. r3 records r1's adverts, r1 is
/// killed (no priority 0 advert), r3 sends the recordings again one a second: r2 drops every
/// one as a replay and takes over within Master_Down_Interval of r1's last real advert.
/// Then r2 restarts (its counter resumes at the mark stored in its state directory, where
/// keepalived's starts at 0) and the recorded adverts are replayed once more: still replays.
#[test]
fn replayed_ah_adverts_of_a_dead_master_do_not_hold_the_backup() {
    let lab = Lab::new("h4-ah-replay", 3);
    let mut r1 = start_vipd(&lab, 1, &ah_conf(1, 150));
    expect_sole_holder(&lab, vip4(), 1, V2_SETTLE, "r1 elected");
    let r2 = start_vipd(&lab, 2, &ah_conf(2, 100));
    let recorded = record_ah(
        lab.router_ns(3),
        Segment::Main.router_ip4(1),
        Duration::from_secs(5),
    );
    assert!(recorded.len() >= 3, "recorded {} adverts", recorded.len());
    wait_instance(&r2, "VI_AH", V2_SETTLE, "backup hearing AH adverts", |i| {
        i.state == "BACKUP" && i.adverts_received >= 3
    });
    let (before, transitions) = (replayed(&r2), instance(&r2, "VI_AH").transitions);
    r1.kill9();
    let killed = Instant::now();
    // Dead with its host: the VIP goes too.
    lab.exec_ok(lab.router_ns(1), "ip addr del 192.0.2.100/24 dev eth0");
    let replayer = {
        let ns = lab.router_ns(3).to_string();
        let frames = recorded.clone();
        std::thread::spawn(move || {
            for _ in 0..2 {
                send_frames(
                    &ns,
                    ETH_P_IP,
                    VRRP_MAC_V4,
                    frames.clone(),
                    Duration::from_millis(500),
                );
            }
        })
    };
    let took = expect_sole_holder(&lab, vip4(), 2, V2_SETTLE, "r2 took over despite replays");
    replayer.join().expect("replayer");
    let dropped = replayed(&r2) - before;
    println!(
        "r2 took over {:?} after r1 died ({took:?} of polling); {dropped} of {} replays \
         dropped",
        killed.elapsed(),
        2 * recorded.len()
    );
    assert!(
        dropped >= recorded.len() as u64,
        "replays not counted as such: {:#?}",
        instance(&r2, "VI_AH")
    );
    assert_eq!(
        instance(&r2, "VI_AH").transitions,
        transitions + 1,
        "r2 moved more than backup -> master"
    );

    // A restarted r2 resumes its counter at the mark it stored (above every number it had
    // heard): the same recordings are replays again and r2 is master on time. (keepalived's
    // counter, and vipd's before, started at 0: the recordings held it back while they
    // lasted.)
    let r2 = restart_vipd(&lab, 2, r2);
    let started = Instant::now();
    let replayer = {
        let ns = lab.router_ns(3).to_string();
        let frames = recorded.clone();
        std::thread::spawn(move || {
            send_frames(&ns, ETH_P_IP, VRRP_MAC_V4, frames, Duration::from_secs(1));
        })
    };
    // Master_Down_Interval of 1 s adverts is ~3.6 s; the replays last as many seconds as
    // there are recordings (at least 3, so up to 5 s): master while they still go is on time.
    let r2_took = expect_sole_holder(&lab, vip4(), 2, V2_SETTLE, "r2 master despite replays");
    let master_after = started.elapsed();
    replayer.join().expect("replayer");
    let i = instance(&r2, "VI_AH");
    println!(
        "restarted r2: {} recorded adverts replayed 1 s apart, {} dropped as replays, {} \
         accepted; master {master_after:?} after its start ({r2_took:?} of polling)",
        recorded.len(),
        replayed(&r2),
        i.adverts_received
    );
    assert_eq!(
        i.adverts_received, 0,
        "restarted r2 took replays as new: {i:#?}"
    );
    assert!(
        replayed(&r2) >= 1,
        "no replay reached the restarted r2: {i:#?}"
    );
}
