//! Issue 13 probe: CPU per advert received through vipd's `recvmmsg` path vs a TPACKET_V3
//! receive ring. Run by `daemon/examples/rx_ring_probe.sh` inside namespaces it creates
//! (root; documentation addresses; the namespaces are deleted on exit).
//!
//! `rx_ring_probe send IF COUNT PERIOD_MS SECONDS`: bursts of COUNT adverts (VRRPv2 to
//! 224.0.0.18, or VRRPv3 to ff02::12 with `PROBE_V6=1`) every PERIOD_MS, like a master of
//! COUNT instances. `rx_ring_probe old|ring|mmsg IF WARMUP SECONDS`: receive, and print the CPU
//! (getrusage user + sys) per advert received over SECONDS after WARMUP.
//!
//! - `old` is vipd's own path: `VrrpSocket::open` + `try_recv_batch` + `ReceiveBatch::get`
//!   (SO_TIMESTAMPNS, IPv6 pktinfo/hop limit), the event loop's budget of 64 and its 500 µs
//!   gather after a turn that read adverts.
//! - `ring` keeps a raw socket of protocol 112 joined to the group and bound to the interface
//!   with a drop-all filter (the kernel still counts the protocol as delivered: no ICMP
//!   unreachable, the NIC keeps the group), and reads an AF_PACKET SOCK_DGRAM TPACKET_V3
//!   ring (classic BPF: protocol/next header 112, block timeout 1 ms): one wake-up a retired
//!   block, no syscall per batch, the kernel's receive time in `tp_sec`/`tp_nsec`; outgoing
//!   frames and other interfaces are skipped, TTL/hop limit and destination read from the
//!   header. `PROBE_BLOCK`/`PROBE_BLOCKS` size the ring (default 16 x 64 KiB).
//! - `mmsg` is a bare `recvmmsg` loop (IPv4), to split the old path's cost: `PROBE_BATCH`
//!   datagrams a call, `PROBE_NOSTAMP=1` without SO_TIMESTAMPNS.
//! - `PROBE_STAMPS=1` (ring) lets the raw socket accept too and compares the timestamps of
//!   both paths: the ring's `tp_sec`/`tp_nsec` and the raw socket's SCM_TIMESTAMPNS are the
//!   same `skb->tstamp` (IPv4 137,123 of 137,123 raw datagrams found in the ring; IPv6
//!   132,095 of 132,096), so one packet can be told apart on both paths by its stamp.
//!
//! Findings (kernel 6.18, 255 adverts every 10 ms, load 10-27, old and ring alternated): the
//! receiver's CPU an advert, IPv4 2.1-2.3 µs old vs 0.41-0.54 µs ring, IPv6 2.4-2.6 vs
//! 0.49-0.57 (a saving of about 78 %); the softirq delivery, charged to the sender on a veth
//! pair, grows by 0-0.2 µs (IPv4) and ~0.5 µs (IPv6). What a ring costs besides:
//! - its block retire timer fires every millisecond even when idle (1,000 timer softirqs a
//!   second per ring, perf `timer:timer_expire_entry`): worth it on a busy socket only;
//! - its pages are mapped into the process and count in its RSS;
//! - blocks retire on the timeout mostly empty, so the ring holds `blocks` x 1 ms under a
//!   reader that is not scheduled, not its bytes: 4 x 64 KiB dropped 3,187 of 253,640 frames
//!   at load 15, 16 x 16 KiB a few hundred at load 12-14 (the socket's 1 MiB holds ~40 ms);
//! - it sees frames before the IP stack: before reassembly (fragments, and a raw socket's
//!   filter cannot tell a reassembled advert from a simple one), before the IPv4 header
//!   checksum and length checks, and before netfilter (an INPUT rule dropping protocol 112
//!   from a host would no longer apply), and frames of other hosts in promiscuous mode.
//!
//! The bare `recvmmsg` loop costs about what vipd's path does (1.9-2.2 µs); without
//! timestamps about the same (1.9); 256 datagrams a call 1.6-1.8: the cost is the socket
//! queue's, per datagram, not vipd's code around it.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use vipd::net::socket::{Family, Mode, ReceiveBatch, VrrpSocket, RECEIVE_BATCH};

const GROUP6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

fn v6() -> bool {
    std::env::var_os("PROBE_V6").is_some()
}

fn group() -> IpAddr {
    if v6() {
        IpAddr::V6(GROUP6)
    } else {
        IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18))
    }
}

fn cpu() -> (Duration, Duration) {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let d = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (d(usage.ru_utime), d(usage.ru_stime))
}

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

fn setopt<T>(fd: RawFd, level: i32, name: i32, v: &T, what: &str) -> io::Result<()> {
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as u32,
        )
    };
    check(rc, what)
}

fn send(ifname: &str, count: u8, period: Duration, seconds: u64) -> io::Result<()> {
    if v6() {
        return send6(ifname, count, period, seconds);
    }
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, 112) };
    check(fd, "socket")?;
    let dev = std::ffi::CString::new(ifname).unwrap();
    let b = dev.as_bytes_with_nul();
    check(
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                b.as_ptr().cast(),
                b.len() as u32,
            )
        },
        "bind dev",
    )?;
    setopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &255i32, "ttl")?;
    let mreq = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex(ifname) as i32,
    };
    setopt(
        fd,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        &mreq,
        "mcast if",
    )?;
    let dst = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(Ipv4Addr::new(224, 0, 0, 18)).to_be(),
        },
        sin_zero: [0; 8],
    };
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut next = Instant::now();
    let mut sent = 0u64;
    let start = cpu();
    while Instant::now() < end {
        for vrid in 1..=count {
            let mut p = [
                0x21, vrid, 100, 1, 0, 1, 0, 0, 192, 0, 2, vrid, 0, 0, 0, 0, 0, 0, 0, 0,
            ];
            let sum = checksum(&p);
            p[6..8].copy_from_slice(&sum.to_be_bytes());
            let rc = unsafe {
                libc::sendto(
                    fd,
                    p.as_ptr().cast(),
                    p.len(),
                    0,
                    (&dst as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                )
            };
            if rc > 0 {
                sent += 1;
            }
        }
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let (u, s) = cpu();
    let per = |d: Duration| d.as_nanos() as f64 / sent.max(1) as f64 / 1000.0;
    println!(
        "send: {sent} adverts, per advert user {:.2} us sys {:.2} us total {:.2} us",
        per(u - start.0),
        per(s - start.1),
        per(u + s - start.0 - start.1)
    );
    Ok(())
}

fn send6(ifname: &str, count: u8, period: Duration, seconds: u64) -> io::Result<()> {
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW, 112) };
    check(fd, "socket6")?;
    let index = ifindex(ifname);
    setopt(
        fd,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_HOPS,
        &255i32,
        "hops",
    )?;
    setopt(
        fd,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_IF,
        &(index as i32),
        "if6",
    )?;
    let mut dst: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    dst.sin6_family = libc::AF_INET6 as u16;
    dst.sin6_addr.s6_addr = GROUP6.octets();
    dst.sin6_scope_id = index;
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut next = Instant::now();
    let mut sent = 0u64;
    let start = cpu();
    while Instant::now() < end {
        for vrid in 1..=count {
            let mut p = [0u8; 24];
            p[..8].copy_from_slice(&[0x31, vrid, 100, 1, 0, 1, 0, 0]);
            p[8..].copy_from_slice(
                &std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(vrid)).octets(),
            );
            let rc = unsafe {
                libc::sendto(
                    fd,
                    p.as_ptr().cast(),
                    p.len(),
                    0,
                    (&dst as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as u32,
                )
            };
            if rc > 0 {
                sent += 1;
            }
        }
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let (u, s) = cpu();
    let per = |d: Duration| d.as_nanos() as f64 / sent.max(1) as f64 / 1000.0;
    println!(
        "send6: {sent} adverts, per advert user {:.2} us sys {:.2} us total {:.2} us",
        per(u - start.0),
        per(s - start.1),
        per(u + s - start.0 - start.1)
    );
    Ok(())
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

struct Tally {
    adverts: u64,
    wakeups: u64,
    sink: u64,
}

impl Tally {
    fn take(&mut self, src: IpAddr, dst: IpAddr, ttl: u8, data: &[u8], arrived: Instant) {
        if ttl != 255 || dst != group() {
            return;
        }
        self.adverts += 1;
        let s = match src {
            IpAddr::V4(s) => u64::from(u32::from(s)),
            IpAddr::V6(s) => u128::from(s) as u64,
        };
        self.sink = self
            .sink
            .wrapping_add(s)
            .wrapping_add(data.len() as u64)
            .wrapping_add(u64::from(data.get(21).copied().unwrap_or(0)))
            .wrapping_add(arrived.elapsed().as_nanos() as u64);
    }
}

fn report(mode: &str, tally: &Tally, start: (Duration, Duration), adverts0: u64, wake0: u64) {
    let (u, s) = cpu();
    let n = (tally.adverts - adverts0).max(1) as f64;
    let per = |d: Duration| d.as_nanos() as f64 / n / 1000.0;
    println!(
        "{mode}: {} adverts, {} wakeups, per advert user {:.3} us sys {:.3} us total {:.3} us (sink {})",
        tally.adverts - adverts0,
        tally.wakeups - wake0,
        per(u - start.0),
        per(s - start.1),
        per(u + s - start.0 - start.1),
        tally.sink % 7
    );
}

async fn old(ifname: &str, warmup: u64, seconds: u64) -> io::Result<()> {
    let family = if v6() { Family::V6 } else { Family::V4 };
    let socket = VrrpSocket::open(ifname, family, Mode::Multicast { group: group() })?;
    let mut batch = ReceiveBatch::default();
    let mut tally = Tally {
        adverts: 0,
        wakeups: 0,
        sink: 0,
    };
    let begin = Instant::now();
    let mut mark: Option<((Duration, Duration), u64, u64)> = None;
    let end = begin + Duration::from_secs(warmup + seconds);
    while Instant::now() < end {
        if mark.is_none() && begin.elapsed() >= Duration::from_secs(warmup) {
            mark = Some((cpu(), tally.adverts, tally.wakeups));
        }
        let _ = tokio::time::timeout(
            Duration::from_millis(100),
            std::future::poll_fn(|cx| socket.poll_readable(cx)),
        )
        .await;
        tally.wakeups += 1;
        let mut read = 0;
        loop {
            let n = socket.try_recv_batch(&mut batch, false)?;
            for i in 0..n {
                if let Ok(r) = batch.get(i, &socket) {
                    tally.take(r.src, r.dst, r.hop_limit, r.data, r.arrived);
                }
            }
            read += n;
            if n < RECEIVE_BATCH || read >= 64 {
                break;
            }
        }
        if read > 0 {
            // vipd's gather (runtime::receive::GATHER).
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    let (start, a0, w0) = mark.unwrap_or((cpu(), 0, 0));
    report("old", &tally, start, a0, w0);
    Ok(())
}

/// Ring geometry: PROBE_BLOCK bytes a block (default 64 KiB), PROBE_BLOCKS blocks (16).
fn geometry() -> (u32, u32) {
    let var = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (var("PROBE_BLOCK", 1 << 16), var("PROBE_BLOCKS", 16))
}
const FRAME: u32 = 2048;

fn open_ring(ifname: &str, raw_accepts: bool) -> io::Result<(OwnedFd, *mut u8, OwnedFd)> {
    #[allow(non_snake_case)]
    let (BLOCK_SIZE, BLOCKS) = geometry();
    let index = ifindex(ifname);
    // The raw socket: joined to the group, bound to the interface, drops all it is given.
    let domain = if v6() { libc::AF_INET6 } else { libc::AF_INET };
    let raw = unsafe { libc::socket(domain, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 112) };
    check(raw, "raw socket")?;
    let raw_fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut drop_all = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: if raw_accepts { 0xffff } else { 0 },
    }];
    setopt(raw, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1i32, "stamps")?;
    let prog = libc::sock_fprog {
        len: 1,
        filter: drop_all.as_mut_ptr(),
    };
    setopt(
        raw,
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &prog,
        "drop all",
    )?;
    let dev = std::ffi::CString::new(ifname).unwrap();
    let b = dev.as_bytes_with_nul();
    check(
        unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                b.as_ptr().cast(),
                b.len() as u32,
            )
        },
        "bind dev",
    )?;
    let join = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from(Ipv4Addr::new(224, 0, 0, 18)).to_be(),
        },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: index as i32,
    };
    if v6() {
        let join6 = libc::ipv6_mreq {
            ipv6mr_multiaddr: libc::in6_addr {
                s6_addr: GROUP6.octets(),
            },
            ipv6mr_interface: index,
        };
        setopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_ADD_MEMBERSHIP,
            &join6,
            "join6",
        )?;
    } else {
        setopt(
            raw,
            libc::IPPROTO_IP,
            libc::IP_ADD_MEMBERSHIP,
            &join,
            "join",
        )?;
    }

    // The ring: protocol 0 until bound, so nothing arrives before the filter.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    check(fd, "packet socket")?;
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    setopt(
        fd,
        libc::SOL_PACKET,
        libc::PACKET_VERSION,
        &2i32, // TPACKET_V3
        "version",
    )?;
    // ldb [9]; jeq #112 ? accept : drop  (SOCK_DGRAM: offset 0 is the IP header)
    let mut filter = [
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: if v6() { 6 } else { 9 },
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: 112,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0xffff,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    setopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &prog,
        "filter",
    )?;
    let req = libc::tpacket_req3 {
        tp_block_size: BLOCK_SIZE,
        tp_block_nr: BLOCKS,
        tp_frame_size: FRAME,
        tp_frame_nr: BLOCK_SIZE / FRAME * BLOCKS,
        tp_retire_blk_tov: 1,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    setopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req, "rx ring")?;
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            (BLOCK_SIZE * BLOCKS) as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_LOCKED,
            fd,
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    let proto = if v6() {
        libc::ETH_P_IPV6
    } else {
        libc::ETH_P_IP
    };
    addr.sll_protocol = (proto as u16).to_be();
    addr.sll_ifindex = index as i32;
    check(
        unsafe {
            libc::bind(
                fd,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        },
        "bind",
    )?;
    Ok((owned, map.cast(), raw_fd))
}

async fn ring(ifname: &str, warmup: u64, seconds: u64) -> io::Result<()> {
    #[allow(non_snake_case)]
    let (BLOCK_SIZE, BLOCKS) = geometry();
    let index = ifindex(ifname);
    let stamps = std::env::var_os("PROBE_STAMPS").is_some();
    let (fd, map, raw) = open_ring(ifname, stamps)?;
    let mut ring_stamps = std::collections::HashSet::new();
    let mut raw_stamps = std::collections::HashSet::new();
    let mut raw_seen = 0u64;
    let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }?;
    let mut tally = Tally {
        adverts: 0,
        wakeups: 0,
        sink: 0,
    };
    let mut block = 0u32;
    let begin = Instant::now();
    let mut mark: Option<((Duration, Duration), u64, u64)> = None;
    let end = begin + Duration::from_secs(warmup + seconds);
    let read_at_hdr = std::mem::size_of::<libc::tpacket3_hdr>().next_multiple_of(16);
    let gather = std::env::var_os("PROBE_GATHER").is_some();
    let mut seen = 0;
    while Instant::now() < end {
        if mark.is_none() && begin.elapsed() >= Duration::from_secs(warmup) {
            mark = Some((cpu(), tally.adverts, tally.wakeups));
        }
        let guard = tokio::time::timeout(Duration::from_millis(100), fd.readable()).await;
        tally.wakeups += 1;
        let read_at = Instant::now();
        let read_real = realtime();
        loop {
            let desc = unsafe { map.add((block * BLOCK_SIZE) as usize) }
                .cast::<libc::tpacket_block_desc>();
            let h1 = unsafe { &(*desc).hdr.bh1 };
            let status = unsafe { std::ptr::read_volatile(&h1.block_status) };
            if status & libc::TP_STATUS_USER == 0 {
                break;
            }
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            let mut off = h1.offset_to_first_pkt as usize;
            for _ in 0..h1.num_pkts {
                let base = unsafe { (desc as *const u8).add(off) };
                let hdr = unsafe { &*base.cast::<libc::tpacket3_hdr>() };
                let ll = unsafe { &*base.add(read_at_hdr).cast::<libc::sockaddr_ll>() };
                if ll.sll_pkttype != libc::PACKET_OUTGOING && ll.sll_ifindex == index as i32 {
                    let data = unsafe {
                        std::slice::from_raw_parts(
                            base.add(hdr.tp_net as usize),
                            hdr.tp_snaplen as usize,
                        )
                    };
                    if data.len() >= 40 && data[0] >> 4 == 6 && data[6] == 112 {
                        let octets = |at: usize| {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(&data[at..at + 16]);
                            std::net::Ipv6Addr::from(a)
                        };
                        let stamp = Duration::new(u64::from(hdr.tp_sec), hdr.tp_nsec);
                        let arrived = vipd::net::socket::arrival(read_at, read_real, Some(stamp));
                        tally.take(
                            IpAddr::V6(octets(8)),
                            IpAddr::V6(octets(24)),
                            data[7],
                            &data[40..],
                            arrived,
                        );
                        if stamps {
                            ring_stamps.insert((hdr.tp_sec, hdr.tp_nsec));
                        }
                    } else if data.len() >= 20
                        && data[0] == 0x45
                        && data[6] & 0x3f == 0
                        && data[7] == 0
                        && data[9] == 112
                    {
                        let src = IpAddr::V4(Ipv4Addr::new(data[12], data[13], data[14], data[15]));
                        let dst = IpAddr::V4(Ipv4Addr::new(data[16], data[17], data[18], data[19]));
                        let stamp = Duration::new(u64::from(hdr.tp_sec), hdr.tp_nsec);
                        let arrived = vipd::net::socket::arrival(read_at, read_real, Some(stamp));
                        tally.take(src, dst, data[8], data, arrived);
                        if stamps {
                            ring_stamps.insert((hdr.tp_sec, hdr.tp_nsec));
                        }
                    }
                }
                off += hdr.tp_next_offset as usize;
                if hdr.tp_next_offset == 0 {
                    break;
                }
            }
            std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
            unsafe {
                std::ptr::write_volatile(&mut (*desc).hdr.bh1.block_status, libc::TP_STATUS_KERNEL)
            };
            block = (block + 1) % BLOCKS;
        }
        if let Ok(Ok(mut guard)) = guard {
            guard.clear_ready();
        }
        // PROBE_GATHER=1: the event loop's 500 µs gather after a turn that read adverts.
        if gather && tally.adverts > seen {
            std::thread::sleep(Duration::from_micros(500));
        }
        seen = tally.adverts;
        if stamps {
            loop {
                let mut buf = [0u8; 2048];
                let mut control = [0u64; 16];
                let mut iov = libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                };
                let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                msg.msg_control = control.as_mut_ptr().cast();
                msg.msg_controllen = std::mem::size_of_val(&control);
                let rc = unsafe { libc::recvmsg(raw.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
                if rc < 0 {
                    break;
                }
                raw_seen += 1;
                let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
                if !cmsg.is_null() && unsafe { (*cmsg).cmsg_type } == libc::SCM_TIMESTAMPNS {
                    let t: libc::timespec =
                        unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
                    raw_stamps.insert((t.tv_sec as u32, t.tv_nsec as u32));
                }
            }
        }
    }
    if stamps {
        println!(
            "stamps: raw read {raw_seen} ({} distinct), ring {} distinct, in both {}",
            raw_stamps.len(),
            ring_stamps.len(),
            raw_stamps.intersection(&ring_stamps).count()
        );
    }
    let (start, a0, w0) = mark.unwrap_or((cpu(), 0, 0));
    report("ring", &tally, start, a0, w0);
    let mut stats = libc::tpacket_stats_v3 {
        tp_packets: 0,
        tp_drops: 0,
        tp_freeze_q_cnt: 0,
    };
    let mut len = std::mem::size_of_val(&stats) as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            fd.get_ref().as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut stats as *mut libc::tpacket_stats_v3).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        println!(
            "  ring {BLOCKS} x {BLOCK_SIZE} B: {} frames, {} dropped, {} freezes",
            stats.tp_packets, stats.tp_drops, stats.tp_freeze_q_cnt
        );
    }
    Ok(())
}

/// `mmsg`: the `recvmmsg` path without vipd's code, to see what its parts cost:
/// PROBE_BATCH datagrams a call (32), PROBE_NOSTAMP=1 without SO_TIMESTAMPNS, the 500 µs
/// gather, plain poll(2) for readiness. IPv4 only.
fn mmsg(ifname: &str, warmup: u64, seconds: u64) -> io::Result<()> {
    let batch: usize = std::env::var("PROBE_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let stamps = std::env::var_os("PROBE_NOSTAMP").is_none();
    let (_ring, _map, raw) = open_ring(ifname, true)?;
    let raw = raw.as_raw_fd();
    if !stamps {
        setopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &0i32,
            "stamps off",
        )?;
    }
    setopt(
        raw,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        &(1i32 << 20),
        "rcvbuf",
    )?;
    let mut data = vec![0u8; batch * 2048];
    let mut controls = vec![[0u64; 8]; batch];
    let mut iovecs: Vec<libc::iovec> = data
        .chunks_mut(2048)
        .map(|c| libc::iovec {
            iov_base: c.as_mut_ptr().cast(),
            iov_len: c.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = (0..batch)
        .map(|i| {
            let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
            h.msg_iov = &mut iovecs[i];
            h.msg_iovlen = 1;
            h.msg_control = controls[i].as_mut_ptr().cast();
            libc::mmsghdr {
                msg_hdr: h,
                msg_len: 0,
            }
        })
        .collect();
    let mut tally = Tally {
        adverts: 0,
        wakeups: 0,
        sink: 0,
    };
    let begin = Instant::now();
    let mut mark: Option<((Duration, Duration), u64, u64)> = None;
    let end = begin + Duration::from_secs(warmup + seconds);
    while Instant::now() < end {
        if mark.is_none() && begin.elapsed() >= Duration::from_secs(warmup) {
            mark = Some((cpu(), tally.adverts, tally.wakeups));
        }
        let mut pfd = libc::pollfd {
            fd: raw,
            events: libc::POLLIN,
            revents: 0,
        };
        unsafe { libc::poll(&mut pfd, 1, 100) };
        tally.wakeups += 1;
        let mut read = 0;
        loop {
            for h in headers.iter_mut() {
                h.msg_hdr.msg_controllen = std::mem::size_of::<[u64; 8]>() as _;
                h.msg_hdr.msg_flags = 0;
            }
            let rc = unsafe {
                libc::recvmmsg(
                    raw,
                    headers.as_mut_ptr(),
                    batch as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if rc <= 0 {
                break;
            }
            let now = Instant::now();
            for (i, h) in headers.iter().take(rc as usize).enumerate() {
                let d = &data[i * 2048..i * 2048 + (h.msg_len as usize).min(2048)];
                if d.len() >= 20 {
                    let src = IpAddr::V4(Ipv4Addr::new(d[12], d[13], d[14], d[15]));
                    let dst = IpAddr::V4(Ipv4Addr::new(d[16], d[17], d[18], d[19]));
                    tally.take(src, dst, d[8], d, now);
                }
            }
            read += rc as usize;
            if (rc as usize) < batch || read >= 64.max(batch) {
                break;
            }
        }
        if read > 0 {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    let (start, a0, w0) = mark.unwrap_or((cpu(), 0, 0));
    report("mmsg", &tally, start, a0, w0);
    Ok(())
}

fn realtime() -> Option<Duration> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut t) };
    Some(Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize| {
        args.get(i)
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(10)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.get(1).map(String::as_str) {
        Some("send") => send(
            &args[2],
            num(3) as u8,
            Duration::from_millis(num(4)),
            num(5),
        ),
        Some("old") => rt.block_on(old(&args[2], num(3), num(4))),
        Some("ring") => rt.block_on(ring(&args[2], num(3), num(4))),
        Some("mmsg") => mmsg(&args[2], num(3), num(4)),
        _ => Err(io::Error::other("usage: send|old|ring IF ...")),
    }
}
