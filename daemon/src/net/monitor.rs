//! Link and address change notifications from the kernel (rtnetlink multicast groups).
//!
//! Used to enter FAULT when an interface goes down, to recover when it comes back, to pick up
//! interfaces created after start and to re-add a virtual IP someone deleted by hand.

use std::collections::VecDeque;
use std::io::{self, Cursor};
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use neli::consts::rtnl::Rtm;
use neli::consts::socket::NlFamily;
use neli::err::SocketError;
use neli::nl::NlPayload;
use neli::rtnl::{Ifaddrmsg, Ifinfomsg};
use neli::socket::synchronous::NlSocketHandle;
use neli::types::Buffer;
use neli::utils::Groups;
use neli::FromBytesWithInput;
use tokio::io::unix::AsyncFd;

use super::netlink::{interface_address, link_info, neli_error};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A link appeared or changed (flags, name, address...). `up` as in
    /// [`LinkInfo::up`](super::netlink::LinkInfo::up). Sent for every change, so the same
    /// state may be reported more than once.
    LinkChanged {
        index: u32,
        name: String,
        up: bool,
    },
    LinkRemoved {
        index: u32,
        name: String,
    },
    AddressAdded {
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
    },
    AddressRemoved {
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
    },
    /// A route (`protocol`: its `rtm_protocol`) or a policy rule (`None`) was deleted; only
    /// from [`Monitor::routing`].
    RoutingRemoved {
        protocol: Option<u8>,
    },
    /// The kernel dropped notifications (receive buffer overrun): re-read the state of every
    /// interface and address of interest. Reported once the backlog is read, so the state
    /// read then is newer than anything that was lost.
    EventsLost,
}

/// Receive buffer of the notification socket (the kernel doubles it for its bookkeeping).
const RCVBUF_BYTES: usize = 1 << 20;
/// Environment variable that overrides [`RCVBUF_BYTES`] (bytes).
pub const RCVBUF_ENV: &str = "VIPD_NETLINK_RCVBUF";

/// After an overrun, at most this many datagrams are skipped before [`NetEvent::EventsLost`]
/// is reported anyway (a storm that never lets the backlog empty must not defer it forever).
const OVERRUN_SKIP_LIMIT: usize = 4096;

/// A subscription to link and IPv4/IPv6 address notifications.
pub struct Monitor {
    socket: AsyncFd<NlSocketHandle>,
    pending: VecDeque<NetEvent>,
    /// Datagrams skipped since an overrun was reported by the kernel, if one was.
    ///
    /// The kernel reports an overrun (ENOBUFS) once and then drops further notifications
    /// silently until the backlog has been read to the end. So the backlog is skipped (its
    /// events are stale: the resync reads what they changed) and `EventsLost` comes when it
    /// is empty, covering the silent losses too.
    overrun: Option<usize>,
}

impl Monitor {
    /// Subscribe in the calling thread's network namespace. Must be called inside a tokio
    /// runtime.
    pub fn new() -> io::Result<Self> {
        Self::subscribe(
            &[
                libc::RTNLGRP_LINK,
                libc::RTNLGRP_IPV4_IFADDR,
                libc::RTNLGRP_IPV6_IFADDR,
            ],
            "link/address events",
        )
    }

    /// A subscription to route and rule notifications, for putting back the routes and rules
    /// of a master that someone deleted. Separate from [`Monitor::new`] and opened only when
    /// instances have routes: on a router with busy routing tables the route events are
    /// many, and they must not crowd out link and address events.
    pub fn routing() -> io::Result<Self> {
        Self::subscribe(
            &[
                libc::RTNLGRP_IPV4_ROUTE,
                libc::RTNLGRP_IPV6_ROUTE,
                libc::RTNLGRP_IPV4_RULE,
                libc::RTNLGRP_IPV6_RULE,
            ],
            "route/rule events",
        )
    }

    fn subscribe(groups: &[u32], what: &str) -> io::Result<Self> {
        let groups = Groups::new_groups(groups);
        let socket = NlSocketHandle::connect(NlFamily::Route, None, groups)
            .map_err(|e| neli_error(&format!("subscribe to {what}"), e))?;
        // Room for bursts (e.g. many addresses flushed at once) before the kernel drops events.
        // VIPD_NETLINK_RCVBUF overrides it: tests make overruns certain with a small one.
        let size = std::env::var(RCVBUF_ENV)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(RCVBUF_BYTES);
        socket
            .set_recv_buffer_size(size)
            .map_err(|e| neli_error("set receive buffer", e))?;
        let fd = socket.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own.
        let rc = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 {
                flags
            } else {
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK)
            }
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the socket moves into the AsyncFd and its descriptor stays open until drop.
        let socket = unsafe { AsyncFd::register(socket) }?;
        Ok(Monitor {
            socket,
            pending: VecDeque::new(),
            overrun: None,
        })
    }

    /// The next link or address event.
    pub async fn recv(&mut self) -> io::Result<NetEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let mut guard = self.socket.readable().await?;
            let pending = &mut self.pending;
            match guard.try_io(|socket| read_events(socket.get_ref(), pending)) {
                Ok(Ok(())) => {
                    if let Some(skipped) = self.overrun.as_mut() {
                        pending.clear();
                        *skipped += 1;
                        if *skipped >= OVERRUN_SKIP_LIMIT {
                            // Still overrun at the next empty backlog: reported again then.
                            *skipped = 0;
                            return Ok(NetEvent::EventsLost);
                        }
                    }
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    pending.clear();
                    self.overrun = Some(0);
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {
                    // The backlog is read: the kernel reports the next overrun again.
                    if self.overrun.take().is_some() {
                        return Ok(NetEvent::EventsLost);
                    }
                }
            }
        }
    }
}

/// Read one datagram of notifications and queue the events it holds.
fn read_events(socket: &NlSocketHandle, pending: &mut VecDeque<NetEvent>) -> io::Result<()> {
    let (messages, _) = socket.recv::<u16, Buffer>().map_err(|e| match e {
        SocketError::Io(io) => match io.raw_os_error() {
            Some(errno) => io::Error::from_raw_os_error(errno),
            None => io::Error::new(io.kind(), io.to_string()),
        },
        other => neli_error("event", other),
    })?;
    for message in messages {
        // A message we cannot parse is skipped, not fatal: the next ones may be fine.
        let Ok(message) = message else { break };
        let NlPayload::Payload(bytes) = message.nl_payload() else {
            continue;
        };
        if let Some(event) = decode(*message.nl_type(), bytes.as_ref()) {
            pending.push_back(event);
        }
    }
    Ok(())
}

/// Turn one rtnetlink notification (type and payload) into an event.
fn decode(nl_type: u16, payload: &[u8]) -> Option<NetEvent> {
    let len = payload.len();
    let rtm = Rtm::from(nl_type);
    match rtm {
        Rtm::Newlink | Rtm::Dellink => {
            let msg = Ifinfomsg::from_bytes_with_input(&mut Cursor::new(payload), len).ok()?;
            let link = link_info(&msg)?;
            Some(if rtm == Rtm::Newlink {
                NetEvent::LinkChanged {
                    index: link.index,
                    name: link.name,
                    up: link.up,
                }
            } else {
                NetEvent::LinkRemoved {
                    index: link.index,
                    name: link.name,
                }
            })
        }
        Rtm::Newaddr | Rtm::Deladdr => {
            let msg = Ifaddrmsg::from_bytes_with_input(&mut Cursor::new(payload), len).ok()?;
            let address = interface_address(&msg)?;
            let (index, addr, prefix_len) = (address.index, address.addr, address.prefix_len);
            Some(if rtm == Rtm::Newaddr {
                NetEvent::AddressAdded {
                    index,
                    addr,
                    prefix_len,
                }
            } else {
                NetEvent::AddressRemoved {
                    index,
                    addr,
                    prefix_len,
                }
            })
        }
        // Only deletions matter, and only their protocol (rtmsg byte 5): the payload is
        // not decoded further.
        Rtm::Delroute => Some(NetEvent::RoutingRemoved {
            protocol: Some(*payload.get(5)?),
        }),
        Rtm::Delrule => Some(NetEvent::RoutingRemoved { protocol: None }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn decodes_address_notification_bytes() {
        // struct ifaddrmsg { AF_INET, /24, flags 0x80, scope 0, index 7 } + IFA_LOCAL 192.0.2.5
        let payload = [
            2, 24, 0x80, 0, 7, 0, 0, 0, // ifaddrmsg (index in host order)
            8, 0, 2, 0, 192, 0, 2, 5, // rtattr len 8, IFA_LOCAL
        ];
        let mut payload = payload.to_vec();
        payload[4..8].copy_from_slice(&7u32.to_ne_bytes());
        payload[8..10].copy_from_slice(&8u16.to_ne_bytes());
        payload[10..12].copy_from_slice(&(libc::IFA_LOCAL).to_ne_bytes());
        let added = decode(libc::RTM_NEWADDR, &payload);
        assert_eq!(
            added,
            Some(NetEvent::AddressAdded {
                index: 7,
                addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5)),
                prefix_len: 24
            })
        );
        let removed = decode(libc::RTM_DELADDR, &payload);
        assert!(matches!(
            removed,
            Some(NetEvent::AddressRemoved { index: 7, .. })
        ));
    }

    #[test]
    fn decodes_route_and_rule_deletions_with_the_route_protocol() {
        // struct rtmsg { AF_INET, /24, 0, 0, table main, protocol 18, scope 0, unicast }
        let route = [2, 24, 0, 0, 254, 18, 0, 1];
        assert_eq!(
            decode(libc::RTM_DELROUTE, &route),
            Some(NetEvent::RoutingRemoved { protocol: Some(18) })
        );
        assert_eq!(
            decode(libc::RTM_DELRULE, &[2, 0, 0, 0, 100, 0, 0, 1, 0, 0, 0, 0]),
            Some(NetEvent::RoutingRemoved { protocol: None })
        );
        assert_eq!(decode(libc::RTM_DELROUTE, &route[..4]), None);
    }

    #[test]
    fn ignores_other_types_and_garbage() {
        assert_eq!(decode(libc::RTM_NEWROUTE, &[0; 12]), None);
        assert_eq!(decode(libc::RTM_NEWADDR, &[2, 24]), None);
        assert_eq!(decode(libc::RTM_NEWLINK, &[]), None);
    }
}
