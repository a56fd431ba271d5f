//! The raw IP protocol 112 socket that carries VRRP adverts on one interface.
//!
//! One unbound socket per interface and family: binding a raw socket to an address would
//! filter out adverts sent to the multicast group, so the source address is chosen per packet
//! with an `IP_PKTINFO`/`IPV6_PKTINFO` control message instead.

use std::io::{self, IoSliceMut};
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::netlink::Netlink;
use crate::vrrp::packet::DropReason;

/// IANA protocol number of VRRP.
pub const IPPROTO_VRRP: i32 = 112;
/// IANA protocol number of the IPsec Authentication Header.
pub const IPPROTO_AH: i32 = 51;
/// VRRP multicast group for IPv4 (RFC 5798 5.1.1.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// VRRP multicast group for IPv6 (RFC 5798 5.1.2.2).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// Large enough for an IPv6 advert with 255 addresses plus headers: a datagram that does not
/// fit is no advert.
pub const RECEIVE_BUFFER: usize = 8192;
/// Kernel receive queue of a VRRP socket: room for a burst of junk in front of a real advert.
const RECEIVE_QUEUE_BYTES: libc::c_int = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Join `group` (the VRRP group, or keepalived's `vrrp_mcast_group4/6`) on the interface;
    /// the source is the interface's primary IPv4 address or its IPv6 link-local address
    /// (looked up again before each send).
    Multicast { group: IpAddr },
    /// No group membership; adverts leave from `src`.
    Unicast { src: IpAddr },
}

/// What one receive call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram {
    Packet(Received),
    /// Read and thrown away: it cannot be an advert.
    Dropped(DropReason),
}

/// A received datagram's bytes: an advert with a few addresses fits inline, a larger one
/// goes to the heap.
pub type PacketBytes = smallvec::SmallVec<[u8; 64]>;

/// One advert as it came off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// IPv4: the whole IP datagram, header included (raw IPv4 sockets deliver it so).
    /// IPv6: the VRRP packet only (the kernel strips the IPv6 header).
    pub data: PacketBytes,
    pub src: IpAddr,
    /// Destination address of the packet: the group, or our unicast address.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit the packet arrived with.
    pub hop_limit: u8,
    pub ifindex: u32,
    /// When the kernel received it (its timestamp), else when it was read: the protocol's
    /// timers count from here, however long the datagram waited in the queue.
    pub arrived: Instant,
}

/// One datagram of a [`ReceiveBatch`]'s last read, borrowed from its buffers: what the
/// event loop judges, without a copy (see [`Received`] for the fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedRef<'a> {
    pub data: &'a [u8],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub hop_limit: u8,
    pub ifindex: u32,
    pub arrived: Instant,
}

impl ReceivedRef<'_> {
    pub fn to_owned(&self) -> Received {
        Received {
            data: PacketBytes::from_slice(self.data),
            src: self.src,
            dst: self.dst,
            hop_limit: self.hop_limit,
            ifindex: self.ifindex,
            arrived: self.arrived,
        }
    }
}

impl Received {
    pub fn view(&self) -> ReceivedRef<'_> {
        ReceivedRef {
            data: &self.data,
            src: self.src,
            dst: self.dst,
            hop_limit: self.hop_limit,
            ifindex: self.ifindex,
            arrived: self.arrived,
        }
    }

    /// The VRRP packet: for IPv4 the datagram after its header, for IPv6 `data` itself.
    /// `None` if an IPv4 header is malformed.
    pub fn vrrp_payload(&self) -> Option<&[u8]> {
        match self.src {
            IpAddr::V4(_) => {
                let header_len = usize::from(self.data.first()? & 0x0f) * 4;
                if header_len < 20 {
                    return None;
                }
                self.data.get(header_len..)
            }
            IpAddr::V6(_) => Some(&self.data),
        }
    }
}

/// A raw VRRP socket bound to one interface.
pub struct VrrpSocket {
    fd: AsyncFd<OwnedFd>,
    family: Family,
    ifname: String,
    ifindex: u32,
    mode: Mode,
    /// Each packet goes out behind an IPv4 header written here (`IP_HDRINCL`, see
    /// [`VrrpSocket::open`]). Not for AH sockets, whose callers write the whole datagram.
    writes_ipv4_header: bool,
    /// For looking up the source address before each send (it may change at runtime).
    netlink: Netlink,
}

impl VrrpSocket {
    /// Open a VRRP socket on `ifname` in the calling thread's network namespace.
    /// Must be called inside a tokio runtime (the socket registers with its reactor).
    ///
    /// An IPv4 multicast socket writes the IPv4 header of its adverts itself (`IP_HDRINCL`):
    /// the kernel then skips building one (`ip_append_data`; about 0.3 µs of the 3.9 µs an
    /// advert cost on a device that drops what it is given). The header is the one the
    /// kernel wrote (see `ipv4_header`). Unicast sockets leave it to the kernel: with
    /// `IP_HDRINCL` it would not cache the route to an on-link peer (and the TTL is
    /// configurable there); IPv6 too, whose flow label the kernel picks.
    pub fn open(ifname: &str, family: Family, mode: Mode) -> io::Result<Self> {
        let mut socket = Self::open_protocol(ifname, family, mode, IPPROTO_VRRP)?;
        if family == Family::V4 && matches!(mode, Mode::Multicast { .. }) {
            let fd = socket.fd.get_ref().as_raw_fd();
            match set_int(fd, libc::IPPROTO_IP, libc::IP_HDRINCL, 1, "IP_HDRINCL") {
                Ok(()) => socket.writes_ipv4_header = true,
                Err(e) => tracing::debug!("{ifname}: {e}: the kernel writes the IPv4 header"),
            }
        }
        Ok(socket)
    }

    /// Like [`VrrpSocket::open`] for VRRPv2 adverts under an IPsec AH header (keepalived's
    /// `auth_type AH`, IPv4 only): IP protocol 51, and the caller sends whole IP datagrams
    /// (`IP_HDRINCL`), since the AH checksum covers header fields the kernel would pick.
    pub fn open_ah(ifname: &str, mode: Mode) -> io::Result<Self> {
        let socket = Self::open_protocol(ifname, Family::V4, mode, IPPROTO_AH)?;
        set_int(
            socket.fd.get_ref().as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_HDRINCL,
            1,
            "IP_HDRINCL",
        )?;
        Ok(socket)
    }

    fn open_protocol(ifname: &str, family: Family, mode: Mode, protocol: i32) -> io::Result<Self> {
        let netlink = Netlink::new()?;
        let ifindex = netlink.link_index(ifname)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("interface {ifname:?} does not exist"),
            )
        })?;
        let (address, what) = match mode {
            Mode::Unicast { src } => (src, "unicast source"),
            Mode::Multicast { group } => (group, "multicast group"),
        };
        if matches!(
            (family, address),
            (Family::V4, IpAddr::V6(_)) | (Family::V6, IpAddr::V4(_))
        ) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{what} {address} is not of the socket's family {family:?}"),
            ));
        }
        let domain = match family {
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        };
        // SAFETY: plain socket(2) call; the result is checked before being owned.
        let raw = unsafe {
            libc::socket(
                domain,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if raw < 0 {
            return Err(annotate(
                io::Error::last_os_error(),
                &format!("socket(SOCK_RAW, protocol {protocol})"),
            ));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let raw = fd.as_raw_fd();

        let mut device = ifname.as_bytes().to_vec();
        device.push(0);
        set_option_bytes(
            raw,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            &device,
            "SO_BINDTODEVICE",
        )?;
        let index_c = libc::c_int::try_from(ifindex).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "interface index out of range")
        })?;
        // Privileged (CAP_NET_ADMIN) form first: it is not capped by net.core.rmem_max.
        if set_int(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            RECEIVE_QUEUE_BYTES,
            "SO_RCVBUFFORCE",
        )
        .is_err()
        {
            set_int(
                raw,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                RECEIVE_QUEUE_BYTES,
                "SO_RCVBUF",
            )?;
        }
        // The kernel's receive time of each datagram: the event loop may read a burst a
        // fraction of a millisecond after it arrived (see `runtime::receive::GATHER`).
        // Without it a datagram counts from when it was read, as before.
        if let Err(e) = set_int(
            raw,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            1,
            "SO_TIMESTAMPNS",
        ) {
            tracing::debug!("{ifname}: {e}");
        }
        match family {
            Family::V4 => {
                set_int(raw, libc::IPPROTO_IP, libc::IP_TTL, 255, "IP_TTL")?;
                set_int(
                    raw,
                    libc::IPPROTO_IP,
                    libc::IP_MULTICAST_TTL,
                    255,
                    "IP_MULTICAST_TTL",
                )?;
                set_int(
                    raw,
                    libc::IPPROTO_IP,
                    libc::IP_MULTICAST_LOOP,
                    0,
                    "IP_MULTICAST_LOOP",
                )?;
                // No IP_PKTINFO on receive: the datagram comes with its IPv4 header, whose
                // destination is what the control message would repeat (`ipi_addr`), and the
                // socket is bound to its interface. One control message less a datagram,
                // and the kernel prepares none when it queues one (at 255 instances, 25,500
                // a second, a few per cent of a backup's CPU). Sending with an
                // IP_PKTINFO control message works without the option.
                // Ignore "fragmentation needed" quoting our adverts (adverts are small):
                // anyone on the link can forge one, and the route exception it leaves for a
                // unicast peer let a forged redirect send our adverts to the forger for five
                // minutes (lab_hostile_link).
                if let Err(e) = set_int(
                    raw,
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    libc::IP_PMTUDISC_OMIT,
                    "IP_MTU_DISCOVER",
                ) {
                    tracing::warn!("{ifname}: {e}");
                }
                let request = libc::ip_mreqn {
                    imr_multiaddr: libc::in_addr {
                        s_addr: u32::from(VRRP_GROUP_V4).to_be(),
                    },
                    imr_address: libc::in_addr { s_addr: 0 },
                    imr_ifindex: index_c,
                };
                set_option(
                    raw,
                    libc::IPPROTO_IP,
                    libc::IP_MULTICAST_IF,
                    &request,
                    "IP_MULTICAST_IF",
                )?;
                if let Mode::Multicast {
                    group: IpAddr::V4(group),
                } = mode
                {
                    let join = libc::ip_mreqn {
                        imr_multiaddr: libc::in_addr {
                            s_addr: u32::from(group).to_be(),
                        },
                        ..request
                    };
                    set_option(
                        raw,
                        libc::IPPROTO_IP,
                        libc::IP_ADD_MEMBERSHIP,
                        &join,
                        &format!("IP_ADD_MEMBERSHIP {group}"),
                    )?;
                }
            }
            Family::V6 => {
                let v6 = libc::IPPROTO_IPV6;
                // Off: the kernel must neither fill in nor check the VRRP checksum; the
                // protocol core computes it over the pseudo-header itself.
                set_int(raw, v6, libc::IPV6_CHECKSUM, -1, "IPV6_CHECKSUM")?;
                set_int(raw, v6, libc::IPV6_UNICAST_HOPS, 255, "IPV6_UNICAST_HOPS")?;
                set_int(
                    raw,
                    v6,
                    libc::IPV6_MULTICAST_HOPS,
                    255,
                    "IPV6_MULTICAST_HOPS",
                )?;
                set_int(raw, v6, libc::IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP")?;
                set_int(
                    raw,
                    v6,
                    libc::IPV6_MULTICAST_IF,
                    index_c,
                    "IPV6_MULTICAST_IF",
                )?;
                set_int(raw, v6, libc::IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO")?;
                set_int(raw, v6, libc::IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT")?;
                if let Mode::Multicast {
                    group: IpAddr::V6(group),
                } = mode
                {
                    let request = libc::ipv6_mreq {
                        ipv6mr_multiaddr: libc::in6_addr {
                            s6_addr: group.octets(),
                        },
                        ipv6mr_interface: ifindex,
                    };
                    set_option(
                        raw,
                        v6,
                        libc::IPV6_ADD_MEMBERSHIP,
                        &request,
                        &format!("IPV6_ADD_MEMBERSHIP {group}"),
                    )?;
                }
            }
        }
        if let Mode::Unicast { .. } = mode {
            // A unicast source (`unicast_src_ip`) deleted from the interface while vipd runs
            // stays the adverts' source, as keepalived's (measured): the peers keep hearing
            // the master, which would otherwise fail every send (EINVAL) and leave two
            // masters. `track_src_ip` is the way to give up mastership instead.
            let (level, name, what) = match family {
                Family::V4 => (libc::IPPROTO_IP, libc::IP_TRANSPARENT, "IP_TRANSPARENT"),
                Family::V6 => (
                    libc::IPPROTO_IPV6,
                    libc::IPV6_TRANSPARENT,
                    "IPV6_TRANSPARENT",
                ),
            };
            if let Err(e) = set_int(raw, level, name, 1, what) {
                tracing::debug!("{ifname}: {e}: adverts stop when the unicast source goes");
            }
        }
        // Readable only: sends never wait for the socket (a full send queue drops the advert),
        // and with write interest every send woke the event loop once more (EPOLLOUT edge).
        // SAFETY: the OwnedFd moves into the AsyncFd and stays open for its whole lifetime.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(VrrpSocket {
            fd,
            family,
            ifname: ifname.to_owned(),
            ifindex,
            mode,
            writes_ipv4_header: false,
            netlink,
        })
    }

    /// A socket that only sends from `ifname` (a VMAC): it joins no group and a filter drops
    /// everything it would receive, so nothing queues up unread. The caller gives the source
    /// of each packet ([`VrrpSocket::send_from`]).
    pub fn open_sender(ifname: &str, family: Family) -> io::Result<Self> {
        let unspecified = match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let socket = VrrpSocket::open(ifname, family, Mode::Unicast { src: unspecified })?;
        // Classic BPF "return 0": accept no byte of any packet.
        let mut drop_all = [libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        }];
        let program = libc::sock_fprog {
            len: 1,
            filter: drop_all.as_mut_ptr(),
        };
        set_option(
            socket.fd.get_ref().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &program,
            "SO_ATTACH_FILTER",
        )?;
        Ok(socket)
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// The source address adverts leave from right now: the unicast source, or the
    /// interface's primary IPv4 / IPv6 link-local address.
    pub fn source_address(&self) -> io::Result<IpAddr> {
        if let Mode::Unicast { src } = self.mode {
            return Ok(src);
        }
        let found = match self.family {
            Family::V4 => self.netlink.primary_ipv4(self.ifindex)?.map(IpAddr::V4),
            Family::V6 => self.netlink.ipv6_link_local(self.ifindex)?.map(IpAddr::V6),
        };
        found.ok_or_else(|| {
            let what = match self.family {
                Family::V4 => "IPv4 address",
                Family::V6 => "usable IPv6 link-local address",
            };
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("interface {} has no {what} to send from", self.ifname),
            )
        })
    }

    /// Waits for the next VRRP packet on this interface, skipping datagrams that cannot be
    /// one (see [`VrrpSocket::recv_datagram`]).
    pub async fn recv(&self) -> io::Result<Received> {
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        loop {
            if let Datagram::Packet(received) = self.recv_datagram(&mut buffer).await? {
                return Ok(received);
            }
        }
    }

    /// Waits for the next datagram on this interface and reads it into `buffer` (at least
    /// [`RECEIVE_BUFFER`] bytes, reused between calls). A datagram that cannot be an advert
    /// (larger than the buffer, or without its addresses) comes back as
    /// [`Datagram::Dropped`]: it cost one receive call and nothing else. An error is the
    /// socket's; the next call may well succeed.
    pub async fn recv_datagram(&self, buffer: &mut [u8]) -> io::Result<Datagram> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| self.recv_now(fd.as_raw_fd(), buffer)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    fn recv_now(&self, fd: RawFd, buffer: &mut [u8]) -> io::Result<Datagram> {
        let mut control = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int, libc::timespec);
        let mut iov = [IoSliceMut::new(buffer)];
        let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut control), MsgFlags::empty())
            .map_err(io::Error::from)?;
        if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            return Ok(Datagram::Dropped(DropReason::Oversized));
        }
        let len = msg.bytes;
        let src = msg.address.as_ref().and_then(|a| {
            a.as_sockaddr_in()
                .map(|s| IpAddr::V4(s.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
        });
        let mut dst = None;
        let mut ifindex = None;
        let mut hop_limit = None;
        let Ok(cmsgs) = msg.cmsgs() else {
            return Ok(Datagram::Dropped(DropReason::ReceiveError));
        };
        for cmsg in cmsgs {
            match cmsg {
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                    ifindex = Some(info.ipi6_ifindex);
                }
                ControlMessageOwned::Ipv6HopLimit(limit) => hop_limit = u8::try_from(limit).ok(),
                _ => {}
            }
        }
        let Some(data) = iov[0].get(..len) else {
            return Ok(Datagram::Dropped(DropReason::Oversized));
        };
        if self.family == Family::V4 {
            (hop_limit, dst, _) = ipv4_ttl_and_destination(data);
        }
        // Without source, destination (for the checksum) or hop limit it cannot be judged.
        let (Some(src), Some(dst), Some(hop_limit)) = (src, dst, hop_limit) else {
            return Ok(Datagram::Dropped(DropReason::ReceiveError));
        };
        Ok(Datagram::Packet(Received {
            src,
            dst,
            hop_limit,
            ifindex: ifindex.unwrap_or(self.ifindex),
            data: PacketBytes::from_slice(data),
            arrived: Instant::now(),
        }))
    }

    /// Waits until the socket is readable, then reads what is queued, up to the batch's
    /// size, with one `recvmmsg`: the datagrams land in `out` (cleared first) in arrival
    /// order, each as [`VrrpSocket::recv_datagram`] would have returned it. An error is the
    /// socket's; the next call may well succeed.
    pub async fn recv_batch(
        &self,
        batch: &mut ReceiveBatch,
        out: &mut Vec<Datagram>,
    ) -> io::Result<()> {
        out.clear();
        loop {
            let mut guard = self.fd.readable().await?;
            let source = self.family == Family::V6;
            match guard.try_io(|fd| batch.receive_with(fd.as_raw_fd(), source)) {
                Ok(Ok(count)) => {
                    // Fewer than asked for: the queue is empty now, and the next read would
                    // only fail with EAGAIN (a system call per wake-up). A datagram arriving
                    // after this read raises a new edge that the reactor has not seen yet,
                    // so forgetting the readiness now loses nothing.
                    if count < RECEIVE_BATCH {
                        guard.clear_ready();
                    }
                    out.extend((0..count).map(|i| match batch.get(i, self) {
                        Ok(received) => Datagram::Packet(received.to_owned()),
                        Err(reason) => Datagram::Dropped(reason),
                    }));
                    return Ok(());
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Whether the reactor has seen the socket readable; registers `cx` to be woken when it
    /// does (for the event loop's wait on all its sockets at once).
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.fd.poll_read_ready(cx).map(|_| ())
    }

    /// Reads what is queued now, up to the batch's size, with one `recvmmsg`, without
    /// waiting: how many datagrams it read (each is [`ReceiveBatch::get`]), 0 when none were
    /// queued. Reads only when the reactor saw the socket readable, unless `force`: a
    /// process that was not scheduled for a while may hold datagrams its reactor has not
    /// been told of yet. An error is the socket's; the next call may well succeed.
    pub fn try_recv_batch(&self, batch: &mut ReceiveBatch, force: bool) -> io::Result<usize> {
        // IPv4: the source is in the header the raw socket delivers; not asking the kernel
        // for it spares copying an address out per datagram.
        let source = self.family == Family::V6;
        // Not the event loop's waker: it registers its own each time it waits.
        let mut cx = Context::from_waker(Waker::noop());
        match self.fd.poll_read_ready(&mut cx) {
            Poll::Ready(Ok(mut guard)) => {
                match guard.try_io(|fd| batch.receive_with(fd.as_raw_fd(), source)) {
                    Ok(Ok(count)) => {
                        // Fewer than asked for: the queue was empty (see `recv_batch`).
                        if count < RECEIVE_BATCH {
                            guard.clear_ready();
                        }
                        Ok(count)
                    }
                    Ok(Err(e)) => Err(e),
                    Err(_would_block) => Ok(0),
                }
            }
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending if force => {
                match batch.receive_with(self.fd.get_ref().as_raw_fd(), source) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                    read => read,
                }
            }
            Poll::Pending => Ok(0),
        }
    }

    /// Send one VRRP packet (without IP header; the kernel adds it) to `dst`, which is the
    /// VRRP group or a unicast peer. The source is [`VrrpSocket::source_address`].
    pub async fn send_to(&self, payload: &[u8], dst: IpAddr) -> io::Result<()> {
        let src = self.source_address()?;
        self.send_from(payload, src, dst).await
    }

    /// Like [`VrrpSocket::send_to`] with a source the caller already knows (it computed the
    /// checksum with it), sparing a netlink lookup per packet.
    pub async fn send_from(&self, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        // The socket is registered for reading only: a full send queue is retried shortly.
        loop {
            match self.try_send_from(payload, src, dst) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await
                }
                result => return result,
            }
        }
    }

    /// Like [`VrrpSocket::send_from`] but one attempt that never waits: when the socket
    /// cannot take the packet right now (`WouldBlock`: send queue full), the caller drops it.
    pub fn try_send_from(&self, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        self.send_now(self.fd.get_ref().as_raw_fd(), payload, src, dst)
    }

    fn send_now(&self, fd: RawFd, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        // One packet through the same builder as a batch: one way to describe a send.
        let mut scratch = SendScratch::default();
        let mut results = Vec::with_capacity(1);
        scratch.clear();
        let packet = Outgoing { payload, src, dst };
        scratch.push(self.ifindex, self.writes_ipv4_header, &packet);
        scratch.send(fd, 0, &mut results);
        results
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(io::Error::new(io::ErrorKind::WriteZero, "nothing sent")))
    }

    /// Sends every packet of `packets` without waiting, with as few system calls as the
    /// kernel allows (`sendmmsg`, up to [`SEND_BATCH`] packets a call): at 510 instances
    /// the adverts due in one wake-up went out one `sendmsg` each. `results` gets one entry
    /// per packet, in order; a packet the kernel refused does not hold up the ones after it.
    /// `scratch` holds the system call's arrays from one call to the next: nothing is
    /// allocated once it has grown to the batch's size.
    pub fn try_send_many<'a>(
        &self,
        packets: impl IntoIterator<Item = Outgoing<'a>>,
        scratch: &mut SendScratch,
        results: &mut Vec<io::Result<()>>,
    ) {
        let fd = self.fd.get_ref().as_raw_fd();
        let mut packets = packets.into_iter().peekable();
        while packets.peek().is_some() {
            scratch.clear();
            for packet in packets.by_ref().take(SEND_BATCH) {
                scratch.push(self.ifindex, self.writes_ipv4_header, &packet);
            }
            // The payloads the scratch points to are borrowed for 'a, past these calls.
            let mut done = 0;
            while done < scratch.len() {
                done += scratch.send(fd, done, results);
            }
        }
    }

    /// TTL / hop limit of the unicast adverts this socket sends (255 unless set; multicast
    /// always leaves with 255).
    pub fn set_unicast_hop_limit(&self, hop_limit: u8) -> io::Result<()> {
        let fd = self.fd.get_ref().as_raw_fd();
        let value = libc::c_int::from(hop_limit);
        match self.family {
            Family::V4 => set_int(fd, libc::IPPROTO_IP, libc::IP_TTL, value, "IP_TTL"),
            Family::V6 => set_int(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_UNICAST_HOPS,
                value,
                "IPV6_UNICAST_HOPS",
            ),
        }
    }

    /// The current `IPV6_CHECKSUM` offset (-1 means the kernel leaves the checksum alone).
    pub fn ipv6_checksum_offset(&self) -> io::Result<i32> {
        get_int(
            self.fd.get_ref().as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_CHECKSUM,
            "IPV6_CHECKSUM",
        )
    }
}

#[cfg(test)]
impl VrrpSocket {
    /// A socket over `fd`, any non-blocking datagram socket (an IPv4 datagram then carries
    /// its header, as on a raw socket), registered with the current runtime's reactor.
    pub(crate) fn for_tests(fd: OwnedFd, family: Family, ifname: &str, mode: Mode) -> Self {
        VrrpSocket {
            // SAFETY: the OwnedFd moves into the AsyncFd and stays open for its lifetime.
            fd: unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.unwrap(),
            family,
            ifname: ifname.to_owned(),
            ifindex: 0,
            mode,
            netlink: Netlink::new().unwrap(),
            writes_ipv4_header: false,
        }
    }

    /// A socket standing in for a VRRP socket on `ifname` (a datagram socket pair; an IPv4
    /// datagram then carries its header, as on a raw socket), and the other end of the pair:
    /// what is sent to it is read from the socket.
    pub(crate) fn pair_for_tests(family: Family, ifname: &str, mode: Mode) -> (Self, OwnedFd) {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Datagram,
            None,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        (Self::for_tests(ours, family, ifname, mode), theirs)
    }
}

/// Datagrams one `recvmmsg` reads at most.
pub const RECEIVE_BATCH: usize = 32;

/// The buffers of one `recvmmsg` call, kept from call to call. The datagram buffers are one
/// zeroed allocation the allocator maps lazily: a page becomes resident only once a datagram
/// was read into it, so a socket that never sees bursts costs a page or two.
pub struct ReceiveBatch {
    data: Vec<u8>,
    controls: Vec<ReceiveControl>,
    /// When the last call returned, on the monotonic clock and on the kernel's timestamp
    /// clock (CLOCK_REALTIME), to place each datagram's timestamp on the monotonic clock.
    read_at: Instant,
    read_realtime: Option<Duration>,
    addresses: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iovecs` and `headers` point into the batch's own heap
// buffers, set once when it is made (the vectors are never resized, and the batch is not
// Clone); nothing else holds them.
unsafe impl Send for ReceiveBatch {}

impl Default for ReceiveBatch {
    fn default() -> Self {
        let mut batch = ReceiveBatch {
            data: vec![0u8; RECEIVE_BATCH * RECEIVE_BUFFER],
            controls: vec![[0u64; 16]; RECEIVE_BATCH],
            read_at: Instant::now(),
            read_realtime: None,
            // SAFETY: plain data; all zeroes is valid.
            addresses: vec![unsafe { std::mem::zeroed() }; RECEIVE_BATCH],
            iovecs: Vec::with_capacity(RECEIVE_BATCH),
            headers: Vec::with_capacity(RECEIVE_BATCH),
        };
        batch.build_headers();
        batch
    }
}

impl ReceiveBatch {
    /// Points the headers at the batch's buffers, once: the vectors are never resized, so
    /// their heap buffers, and the pointers into them, stay put when the batch moves.
    /// Building the 32 headers on every read cost more than the datagram it usually read.
    fn build_headers(&mut self) {
        self.iovecs.clear();
        self.headers.clear();
        for chunk in self.data.chunks_mut(RECEIVE_BUFFER) {
            self.iovecs.push(libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: chunk.len(),
            });
        }
        for i in 0..RECEIVE_BATCH {
            // SAFETY: msghdr is plain data; zeroed is its empty value.
            let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
            header.msg_name = (&mut self.addresses[i] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_iov = &mut self.iovecs[i];
            header.msg_iovlen = 1;
            header.msg_control = self.controls[i].as_mut_ptr().cast();
            header.msg_controllen = size_of::<ReceiveControl>() as _;
            self.headers.push(libc::mmsghdr {
                msg_hdr: header,
                msg_len: 0,
            });
        }
    }

    /// One `recvmmsg` without waiting, asking for each datagram's source address: how many
    /// datagrams it read.
    #[cfg(test)]
    fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        self.receive_with(fd, true)
    }

    /// One `recvmmsg` without waiting: how many datagrams it read. `source`: ask for each
    /// datagram's source address (else it is not written).
    fn receive_with(&mut self, fd: RawFd, source: bool) -> io::Result<usize> {
        // The kernel writes back the lengths and flags of the messages it read: every
        // header gets its full buffers again.
        for (header, address) in self.headers.iter_mut().zip(&mut self.addresses) {
            (header.msg_hdr.msg_name, header.msg_hdr.msg_namelen) = if source {
                let size = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                ((address as *mut libc::sockaddr_storage).cast(), size)
            } else {
                (std::ptr::null_mut(), 0)
            };
            header.msg_hdr.msg_controllen = size_of::<ReceiveControl>() as _;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
        }
        // SAFETY: RECEIVE_BATCH valid headers whose buffers are owned by `self`, which lives
        // through the call; no timeout.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                RECEIVE_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        self.read_at = Instant::now();
        self.read_realtime = realtime_now();
        Ok(rc as usize)
    }

    /// When the last call returned (the read's time).
    pub fn read_at(&self) -> Instant {
        self.read_at
    }

    /// Datagram `i` of the last call, judged as [`VrrpSocket::recv_datagram`] does: a
    /// datagram that cannot be an advert is the reason it is dropped.
    pub fn get(&self, i: usize, socket: &VrrpSocket) -> Result<ReceivedRef<'_>, DropReason> {
        let (Some(header), Some(address)) = (self.headers.get(i), self.addresses.get(i)) else {
            return Err(DropReason::ReceiveError);
        };
        let msg = &header.msg_hdr;
        if msg.msg_flags & libc::MSG_TRUNC != 0 {
            return Err(DropReason::Oversized);
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(DropReason::ReceiveError);
        }
        let mut src = (!msg.msg_name.is_null())
            .then(|| socket_address(address))
            .flatten();
        let mut dst = None;
        let mut ifindex = None;
        let mut hop_limit = None;
        let mut stamp = None;
        // SAFETY: the kernel filled in the control buffer and msg_controllen; CMSG_FIRSTHDR
        // and CMSG_NXTHDR stay within them, and each payload read is checked against the
        // message's length first.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(msg);
            while !cmsg.is_null() {
                let header = &*cmsg;
                let room = (header.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                let data = libc::CMSG_DATA(cmsg);
                match (header.cmsg_level, header.cmsg_type) {
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                        if room >= size_of::<libc::in6_pktinfo>() =>
                    {
                        let info: libc::in6_pktinfo = std::ptr::read_unaligned(data.cast());
                        dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                        ifindex = Some(info.ipi6_ifindex);
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT)
                        if room >= size_of::<libc::c_int>() =>
                    {
                        let limit: libc::c_int = std::ptr::read_unaligned(data.cast());
                        hop_limit = u8::try_from(limit).ok();
                    }
                    (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                        if room >= size_of::<libc::timespec>() =>
                    {
                        let time: libc::timespec = std::ptr::read_unaligned(data.cast());
                        stamp = timespec_duration(&time);
                    }
                    _ => {}
                }
                cmsg = libc::CMSG_NXTHDR(msg, cmsg);
            }
        }
        let len = header.msg_len as usize;
        let start = i * RECEIVE_BUFFER;
        let Some(data) = self.data.get(start..start + len.min(RECEIVE_BUFFER)) else {
            return Err(DropReason::Oversized);
        };
        if socket.family == Family::V4 {
            let header;
            (hop_limit, dst, header) = ipv4_ttl_and_destination(data);
            src = src.or(header);
        }
        let (Some(src), Some(dst), Some(hop_limit)) = (src, dst, hop_limit) else {
            return Err(DropReason::ReceiveError);
        };
        Ok(ReceivedRef {
            src,
            dst,
            hop_limit,
            ifindex: ifindex.unwrap_or(socket.ifindex),
            data,
            arrived: arrival(self.read_at, self.read_realtime, stamp),
        })
    }
}

/// The TTL, destination and source of an IPv4 datagram as a raw socket delivers it (with
/// its header; the kernel's source address is the header's): none without a whole fixed
/// header.
fn ipv4_ttl_and_destination(datagram: &[u8]) -> (Option<u8>, Option<IpAddr>, Option<IpAddr>) {
    let Some(header) = datagram.get(..20) else {
        return (None, None, None);
    };
    let src = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    let dst = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
    (
        Some(header[8]),
        Some(IpAddr::V4(dst)),
        Some(IpAddr::V4(src)),
    )
}

/// The most a datagram's timestamp may place its arrival before the read that returned
/// it. The event loop reads within a millisecond or so of arrival; an older timestamp
/// means the realtime clock was stepped in between, and an arrival placed too early would
/// bring a Master_Down_Interval forward by as much.
pub const MAX_ARRIVAL_AGE: Duration = Duration::from_millis(5);

/// A datagram's arrival on the monotonic clock: the read's monotonic time less the age its
/// kernel timestamp gives it on the realtime clock (both clocks read together after the
/// read), the age within 0..=[`MAX_ARRIVAL_AGE`]; without a timestamp, the read's time.
pub fn arrival(
    read_at: Instant,
    read_realtime: Option<Duration>,
    stamp: Option<Duration>,
) -> Instant {
    let (Some(read_realtime), Some(stamp)) = (read_realtime, stamp) else {
        return read_at;
    };
    let age = read_realtime.saturating_sub(stamp).min(MAX_ARRIVAL_AGE);
    read_at.checked_sub(age).unwrap_or(read_at)
}

fn timespec_duration(time: &libc::timespec) -> Option<Duration> {
    let secs = u64::try_from(time.tv_sec).ok()?;
    let nanos = u32::try_from(time.tv_nsec)
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    Some(Duration::new(secs, nanos))
}

/// CLOCK_REALTIME now, the clock of the kernel's receive timestamps.
fn realtime_now() -> Option<Duration> {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a valid one.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut time) };
    (rc == 0).then(|| timespec_duration(&time)).flatten()
}

/// The address in a `sockaddr_storage` the kernel filled in.
fn socket_address(address: &libc::sockaddr_storage) -> Option<IpAddr> {
    let pointer = (address as *const libc::sockaddr_storage).cast::<u8>();
    match libc::c_int::from(address.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin: libc::sockaddr_in = unsafe { std::ptr::read_unaligned(pointer.cast()) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6: libc::sockaddr_in6 = unsafe { std::ptr::read_unaligned(pointer.cast()) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// Packets per `sendmmsg` call (the kernel's UIO_MAXIOV caps it at 1024).
pub const SEND_BATCH: usize = 256;

/// One packet for [`VrrpSocket::try_send_many`]: a VRRP packet without IP header, as for
/// [`VrrpSocket::send_from`].
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub payload: &'a [u8],
    pub src: IpAddr,
    pub dst: IpAddr,
}

/// Room for one `IP_PKTINFO` or `IPV6_PKTINFO` control message, aligned for `cmsghdr`.
type ControlBuffer = [u64; 8];

/// Room for what a received datagram carries: `IPV6_PKTINFO` (40 bytes with its header),
/// `IPV6_HOPLIMIT` (24) and `SCM_TIMESTAMPNS` (32), or `IP_PKTINFO` and the timestamp.
type ReceiveControl = [u64; 16];

/// The `mmsghdr` array of one `sendmmsg` call and what its pointers point to, kept from one
/// call to the next (cleared, never shrunk). Every vector is filled before the headers
/// point into it, so the pointers stay valid until the call; the payloads are the caller's,
/// borrowed for as long as the call that filled the scratch in.
#[derive(Default)]
pub struct SendScratch {
    addresses: Vec<libc::sockaddr_storage>,
    address_lens: Vec<libc::socklen_t>,
    controls: Vec<ControlBuffer>,
    /// Control message: level, type, payload length, payload bytes.
    control_data: Vec<(libc::c_int, libc::c_int, usize)>,
    /// The IPv4 header a packet goes out behind, if its socket writes one.
    ip_headers: Vec<Option<[u8; IPV4_HEADER_LEN]>>,
    /// Each packet's header (if any) and payload.
    iovecs: Vec<[libc::iovec; 2]>,
    /// Each packet's length (with the header the socket writes) and destination, for its
    /// result.
    packets: Vec<(usize, IpAddr)>,
    /// Packets that could not be described (address families differ): their error.
    invalid: Vec<Option<io::Error>>,
    headers: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iovecs` and `headers` are rewritten for every call and only
// used during it; between calls nothing reads them.
unsafe impl Send for SendScratch {}

impl SendScratch {
    fn clear(&mut self) {
        self.addresses.clear();
        self.address_lens.clear();
        self.controls.clear();
        self.control_data.clear();
        self.ip_headers.clear();
        self.iovecs.clear();
        self.packets.clear();
        self.invalid.clear();
        self.headers.clear();
    }

    fn len(&self) -> usize {
        self.packets.len()
    }

    /// Adds `packet`, behind an IPv4 header when `ipv4_header` (the socket has
    /// `IP_HDRINCL`) and it is an IPv4 packet.
    fn push(&mut self, ifindex: u32, ipv4_header: bool, packet: &Outgoing<'_>) {
        // SAFETY: sockaddr_storage is plain data; all zeroes is a valid (unspecified) value.
        let mut address: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut control: ControlBuffer = [0; 8];
        let described = match (packet.src, packet.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                Ok(describe(&(src, dst), ifindex, &mut address, &mut control))
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                Ok(describe(&(src, dst), ifindex, &mut address, &mut control))
            }
            (src, dst) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot send from {src} to {dst}: address families differ"),
            )),
        };
        let (len, level, kind, data_len, invalid) = match described {
            Ok(d) => (d.address_len, d.level, d.kind, d.info_len, None),
            Err(e) => (0, 0, 0, 0, Some(e)),
        };
        let header = match (ipv4_header, packet.src, packet.dst) {
            (true, IpAddr::V4(src), IpAddr::V4(dst)) => {
                Some(self::ipv4_header(src, dst, packet.payload.len()))
            }
            _ => None,
        };
        self.addresses.push(address);
        self.address_lens.push(len as libc::socklen_t);
        self.controls.push(control);
        self.control_data.push((level, kind, data_len));
        let payload = libc::iovec {
            iov_base: packet.payload.as_ptr() as *mut libc::c_void,
            iov_len: packet.payload.len(),
        };
        // Behind a header the payload is second; the header's iovec is pointed at its bytes
        // in `send`, once no push moves them.
        let unset = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        self.iovecs.push(match header {
            Some(_) => [unset, payload],
            None => [payload, unset],
        });
        let header_len = header.map_or(0, |h| h.len());
        self.ip_headers.push(header);
        self.packets
            .push((header_len + packet.payload.len(), packet.dst));
        self.invalid.push(invalid);
    }

    /// One `sendmmsg` from packet `from` on: how many packets it accounted for (at least
    /// one); their results are appended to `results`.
    fn send(&mut self, fd: RawFd, from: usize, results: &mut Vec<io::Result<()>>) -> usize {
        if let Some(error) = self.invalid.get_mut(from).and_then(Option::take) {
            results.push(Err(error));
            return 1;
        }
        // Up to the next packet that cannot be described.
        let end = (from..self.packets.len())
            .find(|&i| self.invalid.get(i).is_some_and(Option::is_some))
            .unwrap_or(self.packets.len());
        self.headers.clear();
        for i in from..end {
            // SAFETY: msghdr is plain data; zeroed is its documented empty value.
            let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
            header.msg_name = (&mut self.addresses[i] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = self.address_lens[i];
            let iovecs = &mut self.iovecs[i];
            header.msg_iovlen = match &self.ip_headers[i] {
                Some(ip_header) => {
                    iovecs[0] = libc::iovec {
                        iov_base: ip_header.as_ptr() as *mut libc::c_void,
                        iov_len: ip_header.len(),
                    };
                    2
                }
                None => 1,
            };
            header.msg_iov = iovecs.as_mut_ptr();
            let (level, kind, data_len) = self.control_data[i];
            // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic.
            let (space, cmsg_len) = unsafe {
                (
                    libc::CMSG_SPACE(data_len as libc::c_uint) as usize,
                    libc::CMSG_LEN(data_len as libc::c_uint) as usize,
                )
            };
            header.msg_control = self.controls[i].as_mut_ptr().cast();
            header.msg_controllen = space as _;
            // SAFETY: the control buffer is aligned for cmsghdr and at least `space` bytes
            // (size_of::<ControlBuffer>() >= CMSG_SPACE of either pktinfo); CMSG_FIRSTHDR
            // points into it.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&header);
                if !cmsg.is_null() {
                    (*cmsg).cmsg_level = level;
                    (*cmsg).cmsg_type = kind;
                    (*cmsg).cmsg_len = cmsg_len as _;
                }
            }
            self.headers.push(libc::mmsghdr {
                msg_hdr: header,
                msg_len: 0,
            });
        }
        let count = libc::c_uint::try_from(self.headers.len()).unwrap_or(libc::c_uint::MAX);
        // The system call itself: musl's sendmmsg() on 64-bit targets is a loop of sendmsg()
        // (its msghdr has padding where the kernel's has wider fields), which would undo the
        // point. The headers were zeroed before being filled in, so that padding is zero and
        // the layout is the kernel's on little-endian targets.
        // SAFETY: `headers` holds `count` valid mmsghdr whose pointers reach into `self`,
        // which outlives the call, and into the payloads, which the caller of
        // `try_send_many` lends for the whole call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_sendmmsg,
                fd,
                self.headers.as_mut_ptr(),
                count,
                libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            let error = io::Error::last_os_error();
            // A full send queue refuses the rest as well: they are dropped in one go (the
            // next adverts follow) rather than tried one system call each.
            if error.kind() == io::ErrorKind::WouldBlock {
                results
                    .extend((from..end).map(|_| Err(io::Error::from(io::ErrorKind::WouldBlock))));
                return end - from;
            }
            // The first packet failed: it alone; the next call goes on after it.
            results.push(Err(error));
            return 1;
        }
        let sent = (rc as usize).max(1).min(self.headers.len());
        let outcomes = (self.headers.iter().zip(&self.packets[from..]))
            .take(sent)
            .map(|(header, &(len, dst))| {
                if header.msg_len as usize == len {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("sent {} of {len} bytes to {dst}", header.msg_len),
                    ))
                }
            });
        results.extend(outcomes);
        sent
    }
}

/// Length of the IPv4 header a socket with `IP_HDRINCL` writes (no options).
const IPV4_HEADER_LEN: usize = 20;

/// The IPv4 header of a VRRP packet of `payload_len` bytes from `src` to `dst`, as the kernel
/// writes it for a socket without `IP_HDRINCL` (checked on the wire by `lab_vipd_wire`):
/// TOS 0 (vipd sets no `IP_TOS`), no fragment flags (the socket's `IP_PMTUDISC_OMIT` never
/// sets DF), TTL 255 (RFC 5798 5.1.1.3), protocol 112. The identification and the checksum
/// are left 0: the kernel then picks the identification as it did (`ip_select_ident`),
/// computes the checksum and checks the total length.
fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, payload_len: usize) -> [u8; IPV4_HEADER_LEN] {
    let total = u16::try_from(IPV4_HEADER_LEN + payload_len).unwrap_or(u16::MAX);
    let mut header = [0u8; IPV4_HEADER_LEN];
    header[0] = 0x45;
    header[2..4].copy_from_slice(&total.to_be_bytes());
    header[8] = crate::vrrp::packet::HOP_LIMIT;
    header[9] = IPPROTO_VRRP as u8;
    header[12..16].copy_from_slice(&src.octets());
    header[16..20].copy_from_slice(&dst.octets());
    header
}

/// A (source, destination) pair of one address family, as a send describes it: the
/// destination's socket address and the packet-info control message that picks the source
/// address and the interface (`IP_PKTINFO` / `IPV6_PKTINFO`).
trait SendRoute {
    type Address: Copy;
    type Info: Copy;
    const LEVEL: libc::c_int;
    const KIND: libc::c_int;
    fn address(&self, ifindex: u32) -> Self::Address;
    fn info(&self, ifindex: u32) -> Self::Info;
}

impl SendRoute for (Ipv4Addr, Ipv4Addr) {
    type Address = libc::sockaddr_in;
    type Info = libc::in_pktinfo;
    const LEVEL: libc::c_int = libc::IPPROTO_IP;
    const KIND: libc::c_int = libc::IP_PKTINFO;

    fn address(&self, _ifindex: u32) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(self.1).to_be(),
            },
            sin_zero: [0; 8],
        }
    }

    fn info(&self, ifindex: u32) -> libc::in_pktinfo {
        libc::in_pktinfo {
            ipi_ifindex: libc::c_int::try_from(ifindex).unwrap_or(0),
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(self.0).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        }
    }
}

impl SendRoute for (Ipv6Addr, Ipv6Addr) {
    type Address = libc::sockaddr_in6;
    type Info = libc::in6_pktinfo;
    const LEVEL: libc::c_int = libc::IPPROTO_IPV6;
    const KIND: libc::c_int = libc::IPV6_PKTINFO;

    fn address(&self, ifindex: u32) -> libc::sockaddr_in6 {
        let dst = self.1;
        // A link-scoped destination needs the interface as its scope.
        let scope = if dst.is_multicast() || super::netlink::is_link_local(&dst) {
            ifindex
        } else {
            0
        };
        libc::sockaddr_in6 {
            sin6_family: libc::AF_INET6 as libc::sa_family_t,
            sin6_port: 0,
            sin6_flowinfo: 0,
            sin6_addr: libc::in6_addr {
                s6_addr: dst.octets(),
            },
            sin6_scope_id: scope,
        }
    }

    fn info(&self, ifindex: u32) -> libc::in6_pktinfo {
        libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: self.0.octets(),
            },
            ipi6_ifindex: ifindex,
        }
    }
}

/// What [`describe`] wrote: the address length and the control message's level, type and
/// payload length.
struct Described {
    address_len: usize,
    level: libc::c_int,
    kind: libc::c_int,
    info_len: usize,
}

/// Writes the socket address and the packet-info payload of one send into `address` and
/// `control`.
fn describe<R: SendRoute>(
    route: &R,
    ifindex: u32,
    address: &mut libc::sockaddr_storage,
    control: &mut ControlBuffer,
) -> Described {
    const {
        assert!(size_of::<R::Address>() <= size_of::<libc::sockaddr_storage>());
        // CMSG_SPACE(info) = aligned cmsghdr (16 bytes) + info rounded up to 8.
        assert!(16 + size_of::<R::Info>().next_multiple_of(8) <= size_of::<ControlBuffer>());
    }
    // SAFETY: sockaddr_storage is larger than and aligned for both socket address types
    // (asserted above for the size); write_unaligned needs no alignment anyway.
    unsafe {
        std::ptr::write_unaligned(
            (address as *mut libc::sockaddr_storage).cast::<R::Address>(),
            route.address(ifindex),
        );
    }
    // SAFETY: CMSG_SPACE of the info fits the control buffer (asserted above).
    unsafe { write_control_payload(control, &route.info(ifindex)) };
    Described {
        address_len: size_of::<R::Address>(),
        level: R::LEVEL,
        kind: R::KIND,
        info_len: size_of::<R::Info>(),
    }
}

/// Writes `value` as the payload of the first control message in `control` (header fields
/// are filled in by [`SendHeaders::send`]).
///
/// # Safety
/// `CMSG_SPACE(size_of::<T>())` must not exceed the buffer.
unsafe fn write_control_payload<T>(control: &mut ControlBuffer, value: &T) {
    // SAFETY: a msghdr describing the buffer, only to find where the first payload goes.
    let mut header: libc::msghdr = std::mem::zeroed();
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = size_of::<ControlBuffer>() as _;
    let cmsg = libc::CMSG_FIRSTHDR(&header);
    if cmsg.is_null() {
        return;
    }
    std::ptr::copy_nonoverlapping(
        (value as *const T).cast::<u8>(),
        libc::CMSG_DATA(cmsg),
        size_of::<T>(),
    );
}

fn annotate(err: io::Error, what: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

fn set_option<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
    what: &str,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option too large"))?;
    // SAFETY: `value` points to a live `T` of exactly `len` bytes.
    let rc = unsafe { libc::setsockopt(fd, level, name, (value as *const T).cast(), len) };
    if rc < 0 {
        return Err(annotate(io::Error::last_os_error(), what));
    }
    Ok(())
}

fn set_option_bytes(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
    what: &str,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option too large"))?;
    // SAFETY: `value` is a live slice of `len` bytes.
    let rc = unsafe { libc::setsockopt(fd, level, name, value.as_ptr().cast(), len) };
    if rc < 0 {
        return Err(annotate(io::Error::last_os_error(), what));
    }
    Ok(())
}

fn set_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
    what: &str,
) -> io::Result<()> {
    set_option(fd, level, name, &value, what)
}

fn get_int(fd: RawFd, level: libc::c_int, name: libc::c_int, what: &str) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and describe a c_int buffer.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(annotate(io::Error::last_os_error(), what));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(data: Vec<u8>, src: IpAddr) -> Received {
        Received {
            data: data.into(),
            src,
            dst: src,
            hop_limit: 255,
            ifindex: 1,
            arrived: Instant::now(),
        }
    }

    #[test]
    fn ipv4_payload_skips_header_by_ihl() {
        let mut data = vec![0u8; 24 + 3];
        data[0] = 0x46; // IHL 6 words = 24 bytes (with options)
        data[24..].copy_from_slice(&[1, 2, 3]);
        let r = received(data, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(r.vrrp_payload(), Some(&[1u8, 2, 3][..]));
    }

    #[test]
    fn ipv4_payload_rejects_bad_header() {
        let r = received(vec![0x41, 0, 0], IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(r.vrrp_payload(), None);
        let r = received(vec![0x4f; 10], IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(r.vrrp_payload(), None);
        let r = received(vec![], IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(r.vrrp_payload(), None);
    }

    #[test]
    fn ipv4_ttl_and_destination_come_from_the_header() {
        let mut data = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 254, 112, 0, 0, 192, 0, 2, 1];
        data.extend_from_slice(&[224, 0, 0, 18, 0x31, 1, 100, 0, 0, 0, 0, 0]);
        let group = IpAddr::from([224, 0, 0, 18]);
        let src = IpAddr::from([192, 0, 2, 1]);
        assert_eq!(
            ipv4_ttl_and_destination(&data),
            (Some(254), Some(group), Some(src))
        );
        assert_eq!(ipv4_ttl_and_destination(&data[..19]), (None, None, None));
    }

    #[test]
    fn handles_can_move_between_tasks() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<VrrpSocket>();
        send_sync::<Netlink>();
        send_sync::<crate::net::monitor::Monitor>();
        send_sync::<crate::net::announce::Announcer>();
    }

    /// Batched sending and receiving over loopback (needs root for the raw socket; skipped
    /// otherwise): every packet arrives once, in order, with its addresses; a packet the
    /// kernel refuses or that is too large to be an advert costs only itself.
    #[test]
    fn batches_sent_with_sendmmsg_arrive_in_order_through_recvmmsg() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root for raw sockets");
            return;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for (family, local) in [
                (Family::V4, IpAddr::V4(Ipv4Addr::LOCALHOST)),
                (Family::V6, IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ] {
                let socket = VrrpSocket::open("lo", family, Mode::Unicast { src: local }).unwrap();
                let marker = std::process::id().to_be_bytes();
                // 40 packets: more than one receive batch.
                let payloads: Vec<Vec<u8>> = (0..40u8)
                    .map(|i| {
                        let mut p = vec![0x31, i, 0, 0];
                        p.extend_from_slice(&marker);
                        p
                    })
                    .collect();
                let oversized = vec![0x31; RECEIVE_BUFFER + 100];
                let other_family = match local {
                    IpAddr::V4(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                };
                let mut packets: Vec<Outgoing<'_>> = payloads
                    .iter()
                    .map(|p| Outgoing {
                        payload: p,
                        src: local,
                        dst: local,
                    })
                    .collect();
                packets.insert(
                    5,
                    Outgoing {
                        payload: &oversized,
                        src: local,
                        dst: local,
                    },
                );
                packets.insert(
                    10,
                    Outgoing {
                        payload: &payloads[0],
                        src: other_family,
                        dst: local,
                    },
                );
                let mut results = Vec::new();
                // The kernel turns receive timestamps on for the whole system from a work
                // item after the first socket asks: until then a datagram is stamped when
                // read.
                std::thread::sleep(Duration::from_millis(50));
                // A scratch that served before: nothing of that call reaches this one.
                let mut scratch = SendScratch::default();
                socket.try_send_many([packets[10]], &mut scratch, &mut results);
                assert!(matches!(results.as_slice(), [Err(_)]), "{results:?}");
                results.clear();
                let sent_at = Instant::now();
                socket.try_send_many(packets.iter().copied(), &mut scratch, &mut results);
                // Read well after they arrived: each carries its arrival, not the read's time.
                std::thread::sleep(Duration::from_millis(4));
                assert_eq!(results.len(), packets.len());
                for (i, result) in results.iter().enumerate() {
                    assert_eq!(result.is_ok(), i != 10, "packet {i}: {result:?}");
                }
                let mut batch = ReceiveBatch::default();
                let mut datagrams = Vec::new();
                let mut seen = Vec::new();
                let mut oversized_seen = 0;
                let deadline = std::time::Duration::from_secs(5);
                while seen.len() < payloads.len() {
                    tokio::time::timeout(deadline, socket.recv_batch(&mut batch, &mut datagrams))
                        .await
                        .expect("packets within 5 s")
                        .unwrap();
                    let returned_at = Instant::now();
                    for datagram in datagrams.drain(..) {
                        match datagram {
                            Datagram::Packet(received) => {
                                let Some(vrrp) = received.vrrp_payload() else {
                                    continue;
                                };
                                if vrrp.len() == 8 && vrrp[4..] == marker {
                                    assert_eq!((received.src, received.dst), (local, local));
                                    assert_eq!(received.hop_limit, 255);
                                    assert!(
                                        received.arrived + Duration::from_millis(1) >= sent_at
                                            && received.arrived
                                                <= returned_at - Duration::from_millis(3),
                                        "{family:?}: arrival {:?} after the send, read {:?} after it",
                                        received.arrived.saturating_duration_since(sent_at),
                                        returned_at - sent_at
                                    );
                                    seen.push(vrrp[1]);
                                }
                            }
                            Datagram::Dropped(DropReason::Oversized) => oversized_seen += 1,
                            Datagram::Dropped(_) => {}
                        }
                    }
                }
                assert_eq!(seen, (0..40u8).collect::<Vec<_>>(), "{family:?}");
                assert!(
                    oversized_seen >= 1,
                    "{family:?}: the oversized packet was not seen"
                );
            }
        });
    }

    /// Every `recvmmsg` gives each message its whole control buffer again. The kernel writes
    /// back how much of it a message used; a batch that kept that would cut the pktinfo (and
    /// hop limit, timestamp) off later datagrams in the same slots, and those are dropped.
    /// Here a first call reads datagrams that carry no control messages at all (used: 0),
    /// then the same batch reads from a socket that asks for IP_PKTINFO. No root needed.
    #[test]
    fn each_receive_gives_every_message_its_whole_control_buffer() {
        use std::net::UdpSocket;
        use std::os::fd::AsRawFd;
        let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
        let informed = UdpSocket::bind("127.0.0.1:0").unwrap();
        set_int(
            informed.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            1,
            "IP_PKTINFO",
        )
        .unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = ReceiveBatch::default();
        // Reads RECEIVE_BATCH datagrams sent to `to`, in as many calls as it takes; checks
        // each call's messages with `check`.
        let mut read_full_batch = |to: &UdpSocket, check: &dyn Fn(&libc::mmsghdr)| {
            let fd = to.as_raw_fd();
            for i in 0..RECEIVE_BATCH {
                sender
                    .send_to(&[i as u8], to.local_addr().unwrap())
                    .unwrap();
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut read = 0;
            while read < RECEIVE_BATCH {
                match batch.receive(fd) {
                    Ok(n) => {
                        batch.headers[..n].iter().for_each(check);
                        read += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        assert!(Instant::now() < deadline, "{read} datagrams within 5 s");
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => panic!("recvmmsg: {e}"),
                }
            }
        };
        // No control messages: the kernel leaves each slot's length at 0.
        read_full_batch(&plain, &|header| {
            assert_eq!(
                header.msg_hdr.msg_controllen, 0,
                "control length written back"
            );
        });
        // The same slots again: each datagram arrives with its pktinfo, nothing cut off.
        read_full_batch(&informed, &|header| {
            let msg = &header.msg_hdr;
            assert_eq!(
                msg.msg_flags & libc::MSG_CTRUNC,
                0,
                "control data cut off (control length {})",
                msg.msg_controllen
            );
            // SAFETY: the kernel filled in the control buffer and its length; CMSG_FIRSTHDR
            // and CMSG_NXTHDR stay within them.
            let mut dst = None;
            unsafe {
                let mut cmsg = libc::CMSG_FIRSTHDR(msg);
                while !cmsg.is_null() {
                    if ((*cmsg).cmsg_level, (*cmsg).cmsg_type)
                        == (libc::IPPROTO_IP, libc::IP_PKTINFO)
                    {
                        let info: libc::in_pktinfo =
                            std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                        dst = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
                    }
                    cmsg = libc::CMSG_NXTHDR(msg, cmsg);
                }
            }
            assert_eq!(dst, Some(Ipv4Addr::LOCALHOST), "no pktinfo");
        });
    }

    #[test]
    fn arrival_is_the_timestamp_on_the_monotonic_clock_within_bounds() {
        let read_at = Instant::now();
        let realtime = Duration::from_secs(1_700_000_000);
        let ms = Duration::from_millis;
        // 2 ms before the read by its timestamp: 2 ms before the read's monotonic time.
        assert_eq!(
            arrival(read_at, Some(realtime), Some(realtime - ms(2))),
            read_at - ms(2)
        );
        // No timestamp, or no realtime reading: the read's time.
        assert_eq!(arrival(read_at, Some(realtime), None), read_at);
        assert_eq!(arrival(read_at, None, Some(realtime)), read_at);
        // A timestamp after the read (the clock stepped back): the read's time, never later.
        assert_eq!(
            arrival(read_at, Some(realtime), Some(realtime + ms(50))),
            read_at
        );
        // One that says an hour ago (the clock stepped forward): at most the bound earlier.
        assert_eq!(
            arrival(read_at, Some(realtime), Some(realtime - ms(3_600_000))),
            read_at - MAX_ARRIVAL_AGE
        );
    }

    #[test]
    fn ipv6_payload_is_data() {
        let r = received(vec![0x31, 1], IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(r.vrrp_payload(), Some(&[0x31u8, 1][..]));
    }
}
