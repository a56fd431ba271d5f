//! The network shell against a real kernel: two network namespaces joined by a veth pair.
//! Needs root (creates namespaces); every test builds its own pair and deletes it on drop.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use vipd::net::announce::{gratuitous_arp_frame, unsolicited_na_frame, Announcer};
use vipd::net::monitor::{Monitor, NetEvent};
use vipd::net::netlink::{address_flags, Netlink};
use vipd::net::socket::{Family, Mode, Received, VrrpSocket, VRRP_GROUP_V4, VRRP_GROUP_V6};

const A_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const A_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const B_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const A_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const B_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const WAIT: Duration = Duration::from_secs(5);

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn command");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces `a` and `b`, each with `eth0`, joined by a veth pair.
/// A: 192.0.2.1/24, 2001:db8::1/64; B: .2 and ::2. Deleted on drop, also after a panic.
struct Lab {
    a: String,
    b: String,
}

impl Lab {
    fn new(test: &str) -> Lab {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        test.hash(&mut hasher);
        let tag = format!(
            "vt{:04x}{:04x}",
            hasher.finish() & 0xffff,
            std::process::id() & 0xffff
        );
        let lab = Lab {
            a: format!("{tag}a"),
            b: format!("{tag}b"),
        };
        for (ns, v4, v6, mac) in [(&lab.a, A_V4, A_V6, A_MAC), (&lab.b, B_V4, B_V6, B_MAC)] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            run(&["ip", "netns", "add", ns]);
            run(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ]);
            let _ = (v4, v6, mac);
        }
        run(&[
            "ip", "-n", &lab.a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
            "netns", &lab.b,
        ]);
        for (ns, v4, v6, mac) in [(&lab.a, A_V4, A_V6, A_MAC), (&lab.b, B_V4, B_V6, B_MAC)] {
            let mac = mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            run(&["ip", "-n", ns, "link", "set", "eth0", "address", &mac]);
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v4}/24"),
                "dev",
                "eth0",
            ]);
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                "eth0",
            ]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            run(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
        }
        // Packets sent before the carrier is up or the link-local address exists are lost.
        for ns in [&lab.a, &lab.b] {
            let deadline = std::time::Instant::now() + WAIT;
            loop {
                let link = run(&["ip", "-n", ns, "link", "show", "eth0"]);
                let local = run(&[
                    "ip", "-n", ns, "-6", "addr", "show", "dev", "eth0", "scope", "link",
                ]);
                if link.contains("state UP")
                    && local.contains("fe80")
                    && !local.contains("tentative")
                {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{ns} eth0 not ready: {link} {local}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Run `body` on a fresh thread inside namespace `ns` with a current-thread tokio runtime.
fn spawn_in<F, Fut, T>(ns: &str, body: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns file");
        // SAFETY: setns on a valid namespace descriptor; affects this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(body())
    })
}

fn join<T>(handle: std::thread::JoinHandle<T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn in_ns<F, Fut, T>(ns: &str, body: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    join(spawn_in(ns, body))
}

fn eth0_index() -> u32 {
    Netlink::new()
        .unwrap()
        .link_index("eth0")
        .unwrap()
        .expect("eth0 exists")
}

/// A VRRPv3-shaped payload; the checksum bytes (6..8) are arbitrary on purpose, to see that
/// the kernel leaves them alone.
fn payload(addr: IpAddr) -> Vec<u8> {
    let mut p = vec![0x31, 51, 100, 1, 0x00, 100, 0xab, 0xcd];
    match addr {
        IpAddr::V4(v4) => p.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => p.extend_from_slice(&v6.octets()),
    }
    p
}

/// B listens, A sends one packet to `dst`; returns what B received and B's eth0 index.
fn exchange(lab: &Lab, family: Family, a_mode: Mode, b_mode: Mode, dst: IpAddr) -> (Received, u32) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = spawn_in(&lab.b, move || async move {
        let socket = VrrpSocket::open("eth0", family, b_mode).unwrap();
        ready_tx.send(()).unwrap();
        let got = tokio::time::timeout(WAIT, socket.recv())
            .await
            .expect("nothing received within 5 s")
            .unwrap();
        (got, eth0_index())
    });
    ready_rx.recv_timeout(WAIT).expect("receiver ready");
    let sent = payload(dst);
    in_ns(&lab.a, move || async move {
        let socket = VrrpSocket::open("eth0", family, a_mode).unwrap();
        socket.send_to(&sent, dst).await.unwrap();
        // Multicast loop is off: the sender must not hear itself.
        let own = tokio::time::timeout(Duration::from_millis(300), socket.recv()).await;
        assert!(own.is_err(), "sender received its own packet: {own:?}");
    });
    join(receiver)
}

fn link_local(ns: &str) -> Ipv6Addr {
    in_ns(ns, || async {
        let netlink = Netlink::new().unwrap();
        netlink
            .ipv6_link_local(eth0_index())
            .unwrap()
            .expect("link-local")
    })
}

#[test]
fn multicast_v4_advert_crosses_the_link() {
    let lab = Lab::new("multicast_v4");
    let dst = IpAddr::V4(VRRP_GROUP_V4);
    let (got, b_index) = exchange(
        &lab,
        Family::V4,
        Mode::Multicast { group: dst },
        Mode::Multicast { group: dst },
        dst,
    );
    assert_eq!(got.src, IpAddr::V4(A_V4));
    assert_eq!(got.dst, dst);
    assert_eq!(got.hop_limit, 255);
    assert_eq!(got.ifindex, b_index);
    assert_eq!(got.data[9], 112, "IP protocol");
    assert_eq!(got.vrrp_payload(), Some(&payload(dst)[..]));
}

#[test]
fn multicast_v6_advert_crosses_the_link() {
    let lab = Lab::new("multicast_v6");
    let a_link_local = link_local(&lab.a);
    let dst = IpAddr::V6(VRRP_GROUP_V6);
    let (got, b_index) = exchange(
        &lab,
        Family::V6,
        Mode::Multicast { group: dst },
        Mode::Multicast { group: dst },
        dst,
    );
    assert_eq!(got.src, IpAddr::V6(a_link_local));
    assert_eq!(got.dst, dst);
    assert_eq!(got.hop_limit, 255);
    assert_eq!(got.ifindex, b_index);
    // Checksum bytes untouched by the kernel on either side.
    assert_eq!(got.data[..], payload(dst)[..]);
    assert_eq!(got.vrrp_payload(), Some(&payload(dst)[..]));
}

#[test]
fn unicast_v4_advert_crosses_the_link() {
    let lab = Lab::new("unicast_v4");
    let dst = IpAddr::V4(B_V4);
    let (got, _) = exchange(
        &lab,
        Family::V4,
        Mode::Unicast {
            src: IpAddr::V4(A_V4),
        },
        Mode::Unicast { src: dst },
        dst,
    );
    assert_eq!(got.src, IpAddr::V4(A_V4));
    assert_eq!(got.dst, dst);
    assert_eq!(got.hop_limit, 255);
    assert_eq!(got.vrrp_payload(), Some(&payload(dst)[..]));
}

#[test]
fn unicast_v6_advert_crosses_the_link() {
    let lab = Lab::new("unicast_v6");
    let dst = IpAddr::V6(B_V6);
    let (got, _) = exchange(
        &lab,
        Family::V6,
        Mode::Unicast {
            src: IpAddr::V6(A_V6),
        },
        Mode::Unicast { src: dst },
        dst,
    );
    assert_eq!(got.src, IpAddr::V6(A_V6));
    assert_eq!(got.dst, dst);
    assert_eq!(got.hop_limit, 255);
    assert_eq!(got.data[..], payload(dst)[..]);
}

#[test]
fn ipv6_checksum_is_left_to_us() {
    let lab = Lab::new("checksum_off");
    let offset = in_ns(&lab.a, || async {
        VrrpSocket::open(
            "eth0",
            Family::V6,
            Mode::Multicast {
                group: IpAddr::V6(VRRP_GROUP_V6),
            },
        )
        .unwrap()
        .ipv6_checksum_offset()
        .unwrap()
    });
    assert_eq!(offset, -1);
}

#[test]
fn open_on_missing_interface_fails_clearly() {
    let lab = Lab::new("missing_if");
    let err = in_ns(&lab.a, || async {
        VrrpSocket::open(
            "nosuch0",
            Family::V4,
            Mode::Multicast {
                group: IpAddr::V4(VRRP_GROUP_V4),
            },
        )
        .err()
        .expect("must fail")
    });
    assert!(err.to_string().contains("nosuch0"), "{err}");
}

#[test]
fn addresses_are_added_and_deleted() {
    let lab = Lab::new("addresses");
    // DAD on, so that a VIP added without NODAD would show up as tentative.
    run(&[
        "ip",
        "netns",
        "exec",
        &lab.a,
        "sysctl",
        "-qw",
        "net.ipv6.conf.eth0.accept_dad=1",
    ]);
    let vip4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
    let vip6 = IpAddr::V6("2001:db8::100".parse().unwrap());
    let (index, listed) = in_ns(&lab.a, move || async move {
        let netlink = Netlink::new().unwrap();
        let index = eth0_index();
        netlink
            .add_address(index, vip4, 24, Some("eth0:vip"))
            .unwrap();
        netlink
            .add_address(index, vip4, 24, Some("eth0:vip"))
            .unwrap(); // EEXIST is fine
        netlink.add_address(index, vip6, 64, None).unwrap();
        netlink.add_address(index, vip6, 64, None).unwrap();
        assert_eq!(netlink.primary_ipv4(index).unwrap(), Some(A_V4));
        let link_local = netlink.ipv6_link_local(index).unwrap().expect("link-local");
        assert_eq!(link_local.segments()[0], 0xfe80);
        (index, netlink.addresses(index).unwrap())
    });
    let v4 = listed.iter().find(|a| a.addr == vip4).expect("VIP listed");
    assert_eq!(v4.prefix_len, 24);
    assert_eq!(v4.label.as_deref(), Some("eth0:vip"));
    assert_ne!(v4.flags & address_flags::SECONDARY, 0);
    let v6 = listed.iter().find(|a| a.addr == vip6).expect("VIP6 listed");
    assert_eq!(v6.prefix_len, 64);
    assert_ne!(v6.flags & address_flags::NODAD, 0);
    assert!(listed.iter().any(|a| a.addr == IpAddr::V4(A_V4)));

    let shown = run(&["ip", "-n", &lab.a, "addr", "show", "dev", "eth0"]);
    assert!(shown.contains("inet 192.0.2.100/24"), "{shown}");
    assert!(shown.contains("eth0:vip"), "{shown}");
    let line6 = shown
        .lines()
        .find(|l| l.contains("2001:db8::100/64"))
        .unwrap_or_else(|| panic!("no VIP6 in {shown}"));
    assert!(line6.contains("nodad"), "{line6}");
    assert!(!line6.contains("tentative"), "{line6}");

    in_ns(&lab.a, move || async move {
        let netlink = Netlink::new().unwrap();
        netlink.delete_address(index, vip4, 24).unwrap();
        netlink.delete_address(index, vip4, 24).unwrap(); // already gone is fine
        netlink.delete_address(index, vip6, 64).unwrap();
        netlink.delete_address(index, vip6, 64).unwrap();
    });
    let shown = run(&["ip", "-n", &lab.a, "addr", "show", "dev", "eth0"]);
    assert!(!shown.contains("192.0.2.100"), "{shown}");
    assert!(!shown.contains("2001:db8::100"), "{shown}");
    assert!(shown.contains("192.0.2.1/24"), "{shown}");
}

#[test]
fn link_state_follows_the_interface() {
    let lab = Lab::new("link_state");
    let ns = lab.a.clone();
    in_ns(&lab.a, move || async move {
        let netlink = Netlink::new().unwrap();
        let index = eth0_index();
        let link = netlink.link(index).unwrap().unwrap();
        assert!(link.up);
        assert_eq!(link.name, "eth0");
        assert_eq!(link.mac, Some(A_MAC));
        run(&["ip", "-n", &ns, "link", "set", "eth0", "down"]);
        assert!(!netlink.link(index).unwrap().unwrap().up);
        assert_eq!(netlink.link(9999).unwrap(), None);
        assert_eq!(netlink.link_index("nosuch0").unwrap(), None);
        assert_eq!(netlink.link_index("").unwrap(), None);
        assert_eq!(netlink.link_index("longer-than-ifnamsiz").unwrap(), None);
        // Lookups of one link say what the dump of all says.
        for link in netlink.all_links().unwrap() {
            assert_eq!(netlink.link_index(&link.name).unwrap(), Some(link.index));
            assert_eq!(netlink.link(link.index).unwrap(), Some(link.clone()));
        }
    });
}

async fn wait_for(monitor: &mut Monitor, what: &str, wanted: impl Fn(&NetEvent) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, monitor.recv())
            .await
            .unwrap_or_else(|_| panic!("no event {what} within 5 s"))
            .unwrap();
        if wanted(&event) {
            return;
        }
    }
}

#[test]
fn monitor_reports_links_and_addresses() {
    let lab = Lab::new("monitor");
    let ns = lab.a.clone();
    let peer = lab.b.clone();
    in_ns(&lab.a, move || async move {
        let mut monitor = Monitor::new().unwrap();
        let index = eth0_index();

        run(&["ip", "-n", &ns, "link", "set", "eth0", "down"]);
        wait_for(&mut monitor, "eth0 down", |e| {
            *e == NetEvent::LinkChanged {
                index,
                name: "eth0".into(),
                up: false,
            }
        })
        .await;
        run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        wait_for(&mut monitor, "eth0 up", |e| {
            *e == NetEvent::LinkChanged {
                index,
                name: "eth0".into(),
                up: true,
            }
        })
        .await;

        // Losing carrier (peer down) also counts as down.
        run(&["ip", "-n", &peer, "link", "set", "eth0", "down"]);
        wait_for(&mut monitor, "eth0 no carrier", |e| {
            *e == NetEvent::LinkChanged {
                index,
                name: "eth0".into(),
                up: false,
            }
        })
        .await;

        // An interface created after start (no dummy module here: a second veth pair).
        run(&[
            "ip", "-n", &ns, "link", "add", "late0", "type", "veth", "peer", "name", "late1",
        ]);
        wait_for(
            &mut monitor,
            "late0 appears",
            |e| matches!(e, NetEvent::LinkChanged { name, up: false, .. } if name == "late0"),
        )
        .await;
        let late = Netlink::new()
            .unwrap()
            .link_index("late0")
            .unwrap()
            .unwrap();
        run(&["ip", "-n", &ns, "link", "set", "late1", "up"]);
        run(&["ip", "-n", &ns, "link", "set", "late0", "up"]);
        wait_for(&mut monitor, "late0 up", |e| {
            *e == NetEvent::LinkChanged {
                index: late,
                name: "late0".into(),
                up: true,
            }
        })
        .await;
        run(&["ip", "-n", &ns, "link", "del", "late0"]);
        wait_for(&mut monitor, "late0 removed", |e| {
            *e == NetEvent::LinkRemoved {
                index: late,
                name: "late0".into(),
            }
        })
        .await;

        let netlink = Netlink::new().unwrap();
        let vip4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50));
        let vip6 = IpAddr::V6("2001:db8::50".parse().unwrap());
        netlink.add_address(index, vip4, 24, None).unwrap();
        wait_for(&mut monitor, "VIP added", |e| {
            *e == NetEvent::AddressAdded {
                index,
                addr: vip4,
                prefix_len: 24,
            }
        })
        .await;
        netlink.add_address(index, vip6, 64, None).unwrap();
        wait_for(&mut monitor, "VIP6 added", |e| {
            *e == NetEvent::AddressAdded {
                index,
                addr: vip6,
                prefix_len: 64,
            }
        })
        .await;
        run(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "del",
            "192.0.2.50/24",
            "dev",
            "eth0",
        ]);
        wait_for(&mut monitor, "VIP deleted by hand", |e| {
            *e == NetEvent::AddressRemoved {
                index,
                addr: vip4,
                prefix_len: 24,
            }
        })
        .await;
        run(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "del",
            "2001:db8::50/64",
            "dev",
            "eth0",
        ]);
        wait_for(&mut monitor, "VIP6 deleted by hand", |e| {
            *e == NetEvent::AddressRemoved {
                index,
                addr: vip6,
                prefix_len: 64,
            }
        })
        .await;
    });
}

/// Capture frames on eth0 of the calling thread's namespace until `pick` returns Some.
fn capture(ready: mpsc::Sender<()>, pick: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    // SAFETY: plain socket(2) call, result checked.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from((libc::ETH_P_ALL as u16).to_be()),
        )
    };
    assert!(
        raw >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fresh descriptor.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    let timeout = libc::timeval {
        tv_sec: 1,
        tv_usec: 0,
    };
    // SAFETY: valid option value and length.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
    }
    ready.send(()).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let mut buffer = vec![0u8; 2048];
    while std::time::Instant::now() < deadline {
        // SAFETY: buffer is live and its length passed.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        if n > 0 {
            let frame = &buffer[..n as usize];
            if pick(frame) {
                return frame.to_vec();
            }
        }
    }
    panic!("frame not captured within 5 s");
}

#[test]
fn gratuitous_arp_reaches_the_peer() {
    let lab = Lab::new("garp");
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    let (ready_tx, ready_rx) = mpsc::channel();
    let capturer = spawn_in(&lab.b, move || async move {
        capture(ready_tx, |f| {
            f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[28..32] == vip.octets()
        })
    });
    ready_rx.recv_timeout(WAIT).unwrap();
    in_ns(&lab.a, move || async move {
        Announcer::new()
            .unwrap()
            .send(eth0_index(), IpAddr::V4(vip))
            .unwrap();
    });
    let frame = join(capturer);
    assert_eq!(&frame[..42], &gratuitous_arp_frame(A_MAC, vip)[..]);
    assert_eq!(&frame[..6], &[0xff; 6]);
    assert_eq!(&frame[6..12], &A_MAC);
    assert_eq!(&frame[38..42], &vip.octets(), "target IP = VIP");
}

#[test]
fn unsolicited_na_reaches_the_peer() {
    let lab = Lab::new("unsol_na");
    let a_link_local = link_local(&lab.a);
    let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let capturer = spawn_in(&lab.b, move || async move {
        capture(ready_tx, |f| {
            f.len() >= 86 && f[12..14] == [0x86, 0xdd] && f[20] == 58 && f[54] == 136
        })
    });
    ready_rx.recv_timeout(WAIT).unwrap();
    in_ns(&lab.a, move || async move {
        Announcer::new()
            .unwrap()
            .send(eth0_index(), IpAddr::V6(vip))
            .unwrap();
    });
    let frame = join(capturer);
    assert_eq!(frame, unsolicited_na_frame(A_MAC, a_link_local, vip));
    assert_eq!(
        &frame[22..38],
        &a_link_local.octets(),
        "source = link-local"
    );
    assert_eq!(frame[21], 255, "hop limit");
    assert_eq!(&frame[62..78], &vip.octets(), "target = VIP");
    let _ = B_MAC;
}
