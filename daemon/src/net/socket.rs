//! The raw IP protocol 112 socket that carries VRRP adverts on one interface.
//!
//! One unbound socket per interface and family: binding a raw socket to an address would
//! filter out adverts sent to the multicast group, so the source address is chosen per packet
//! with an `IP_PKTINFO`/`IPV6_PKTINFO` control message instead.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6,
    SockaddrStorage,
};
use tokio::io::unix::AsyncFd;

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

/// One advert as it came off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// IPv4: the whole IP datagram, header included (raw IPv4 sockets deliver it so).
    /// IPv6: the VRRP packet only (the kernel strips the IPv6 header).
    pub data: Vec<u8>,
    pub src: IpAddr,
    /// Destination address of the packet: the group, or our unicast address.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit the packet arrived with.
    pub hop_limit: u8,
    pub ifindex: u32,
}

impl Received {
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
    /// For looking up the source address before each send (it may change at runtime).
    netlink: Netlink,
}

impl VrrpSocket {
    /// Open a VRRP socket on `ifname` in the calling thread's network namespace.
    /// Must be called inside a tokio runtime (the socket registers with its reactor).
    pub fn open(ifname: &str, family: Family, mode: Mode) -> io::Result<Self> {
        Self::open_protocol(ifname, family, mode, IPPROTO_VRRP)
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
                set_int(raw, libc::IPPROTO_IP, libc::IP_PKTINFO, 1, "IP_PKTINFO")?;
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
        // SAFETY: the OwnedFd moves into the AsyncFd and stays open for its whole lifetime.
        let fd = unsafe { AsyncFd::register(fd) }?;
        Ok(VrrpSocket {
            fd,
            family,
            ifname: ifname.to_owned(),
            ifindex,
            mode,
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
        let mut control = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
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
                ControlMessageOwned::Ipv4PacketInfo(info) => {
                    // ipi_addr is the header's destination; ipi_spec_dst the local route.
                    dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        info.ipi_addr.s_addr,
                    ))));
                    ifindex = u32::try_from(info.ipi_ifindex).ok();
                }
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
            hop_limit = data.get(8).copied();
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
            data: data.to_vec(),
        }))
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
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| self.send_now(fd.as_raw_fd(), payload, src, dst)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Like [`VrrpSocket::send_from`] but one attempt that never waits: when the socket
    /// cannot take the packet right now (`WouldBlock`: send queue full), the caller drops it.
    pub fn try_send_from(&self, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        self.send_now(self.fd.get_ref().as_raw_fd(), payload, src, dst)
    }

    fn send_now(&self, fd: RawFd, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        let iov = [IoSlice::new(payload)];
        let sent = match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: libc::c_int::try_from(self.ifindex).unwrap_or(0),
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(src).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let address = SockaddrIn::from(std::net::SocketAddrV4::new(dst, 0));
                sendmsg(
                    fd,
                    &iov,
                    &[ControlMessage::Ipv4PacketInfo(&info)],
                    MsgFlags::empty(),
                    Some(&address),
                )
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: src.octets(),
                    },
                    ipi6_ifindex: self.ifindex,
                };
                let scope = if dst.is_multicast() || super::netlink::is_link_local(&dst) {
                    self.ifindex
                } else {
                    0
                };
                let address = SockaddrIn6::from(std::net::SocketAddrV6::new(dst, 0, 0, scope));
                sendmsg(
                    fd,
                    &iov,
                    &[ControlMessage::Ipv6PacketInfo(&info)],
                    MsgFlags::empty(),
                    Some(&address),
                )
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot send from {src} to {dst}: address families differ"),
                ))
            }
        };
        let sent = sent.map_err(io::Error::from)?;
        if sent != payload.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes to {dst}", payload.len()),
            ));
        }
        Ok(())
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
            data,
            src,
            dst: src,
            hop_limit: 255,
            ifindex: 1,
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
    fn handles_can_move_between_tasks() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<VrrpSocket>();
        send_sync::<Netlink>();
        send_sync::<crate::net::monitor::Monitor>();
        send_sync::<crate::net::announce::Announcer>();
    }

    #[test]
    fn ipv6_payload_is_data() {
        let r = received(vec![0x31, 1], IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(r.vrrp_payload(), Some(&[0x31u8, 1][..]));
    }
}
