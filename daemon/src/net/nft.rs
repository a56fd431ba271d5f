//! vipd's own nftables table (`inet vipd`) over nfnetlink: the DNAT (and MASQUERADE) rules
//! of the forwards of every instance that is master. No `nft` binary and no C library
//! (libnftnl would break the static musl build; rustables is GPL-3.0 while vipd is
//! MIT/Apache-2.0): the few message kinds vipd needs are written here by hand.
//!
//! The table is replaced as a whole in one atomic batch (create it if missing, delete it,
//! create it with its chains and rules), so other rulesets are never touched and a table a
//! killed vipd left behind disappears with the first batch. The rules, in nft terms:
//!
//! ```text
//! table inet vipd {
//!   chain prerouting  { type nat hook prerouting priority -100;
//!     meta nfproto ipv4 ip daddr VIP meta l4proto tcp tcp dport PORT dnat ip to BACKEND:BPORT }
//!   chain output      { type nat hook output priority -100;   (the same, for local clients) }
//!   chain postrouting { type nat hook postrouting priority 100;
//!     meta nfproto ipv4 ct status dnat ip daddr BACKEND meta l4proto tcp tcp dport BPORT masquerade }
//! }
//! ```

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The name of vipd's table (family `inet`).
pub const TABLE: &str = "vipd";

/// Transport protocol of a forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    fn number(self) -> u8 {
        match self {
            Protocol::Tcp => libc::IPPROTO_TCP as u8,
            Protocol::Udp => libc::IPPROTO_UDP as u8,
        }
    }
}

/// One DNAT rule: connections to `from` (a VIP and port) go to `to`, source-NATed to this
/// router's address on the way out when `masquerade`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Forward {
    pub protocol: Protocol,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub masquerade: bool,
}

// nfnetlink and nf_tables constants (linux/netfilter/nfnetlink.h, nf_tables.h).
const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFPROTO_INET: u8 = 1;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_APPEND: u16 = 0x800;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;

const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_INET_POST_ROUTING: u32 = 4;
const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_CT_STATUS: u32 = 2;
const NFT_NAT_DNAT: u32 = 1;
const IPS_DST_NAT: u32 = 1 << 5;

/// One netlink attribute, nested ones built from their children.
fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut out = Vec::with_capacity(len.next_multiple_of(4));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(len.next_multiple_of(4), 0);
    out
}

fn nested(ty: u16, children: &[Vec<u8>]) -> Vec<u8> {
    attr(ty | NLA_F_NESTED, &children.concat())
}

fn string(ty: u16, text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    attr(ty, &bytes)
}

/// nf_tables integers are big-endian.
fn be32(ty: u16, value: u32) -> Vec<u8> {
    attr(ty, &value.to_be_bytes())
}

fn data(ty: u16, value: &[u8]) -> Vec<u8> {
    nested(ty, &[attr(NFTA_DATA_VALUE, value)])
}

fn expression(name: &str, attributes: &[Vec<u8>]) -> Vec<u8> {
    let mut children = vec![string(NFTA_EXPR_NAME, name)];
    if !attributes.is_empty() {
        children.push(nested(NFTA_EXPR_DATA, attributes));
    }
    nested(NFTA_LIST_ELEM, &children)
}

fn meta(key: u32) -> Vec<u8> {
    // NFTA_META_DREG = 1, NFTA_META_KEY = 2
    expression("meta", &[be32(1, NFT_REG_1), be32(2, key)])
}

fn cmp(op: u32, value: &[u8]) -> Vec<u8> {
    // NFTA_CMP_SREG = 1, NFTA_CMP_OP = 2, NFTA_CMP_DATA = 3
    expression("cmp", &[be32(1, NFT_REG_1), be32(2, op), data(3, value)])
}

fn payload(base: u32, offset: u32, len: u32) -> Vec<u8> {
    // NFTA_PAYLOAD_DREG = 1, _BASE = 2, _OFFSET = 3, _LEN = 4
    expression(
        "payload",
        &[
            be32(1, NFT_REG_1),
            be32(2, base),
            be32(3, offset),
            be32(4, len),
        ],
    )
}

fn immediate(register: u32, value: &[u8]) -> Vec<u8> {
    // NFTA_IMMEDIATE_DREG = 1, NFTA_IMMEDIATE_DATA = 2
    expression("immediate", &[be32(1, register), data(2, value)])
}

fn address_bytes(address: IpAddr) -> Vec<u8> {
    match address {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// `meta nfproto F ip[6] daddr A meta l4proto P th dport PORT`.
fn match_destination(address: IpAddr, protocol: Protocol, port: u16) -> Vec<Vec<u8>> {
    let (nfproto, offset) = match address {
        IpAddr::V4(_) => (NFPROTO_IPV4, 16),
        IpAddr::V6(_) => (NFPROTO_IPV6, 24),
    };
    let bytes = address_bytes(address);
    vec![
        meta(NFT_META_NFPROTO),
        cmp(NFT_CMP_EQ, &[nfproto]),
        payload(NFT_PAYLOAD_NETWORK_HEADER, offset, bytes.len() as u32),
        cmp(NFT_CMP_EQ, &bytes),
        meta(NFT_META_L4PROTO),
        cmp(NFT_CMP_EQ, &[protocol.number()]),
        payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2),
        cmp(NFT_CMP_EQ, &port.to_be_bytes()),
    ]
}

/// The expressions of the DNAT rule of `forward`.
fn dnat_rule(forward: &Forward) -> Vec<Vec<u8>> {
    let mut exprs = match_destination(forward.from.ip(), forward.protocol, forward.from.port());
    let family = if forward.to.is_ipv4() {
        NFPROTO_IPV4
    } else {
        NFPROTO_IPV6
    };
    exprs.push(immediate(NFT_REG_1, &address_bytes(forward.to.ip())));
    exprs.push(immediate(NFT_REG_2, &forward.to.port().to_be_bytes()));
    // NFTA_NAT_TYPE = 1, _FAMILY = 2, _REG_ADDR_MIN = 3, _REG_PROTO_MIN = 5
    exprs.push(expression(
        "nat",
        &[
            be32(1, NFT_NAT_DNAT),
            be32(2, u32::from(family)),
            be32(3, NFT_REG_1),
            be32(5, NFT_REG_2),
        ],
    ));
    exprs
}

/// The expressions of the MASQUERADE rule of `forward` (traffic it DNATed, leaving).
fn masquerade_rule(forward: &Forward) -> Vec<Vec<u8>> {
    let to = forward.to;
    let mut exprs = match_destination(to.ip(), forward.protocol, to.port());
    // `ct status dnat`, after the family check: conntrack status is host-endian.
    let status = vec![
        // NFTA_CT_DREG = 1, NFTA_CT_KEY = 2
        expression("ct", &[be32(1, NFT_REG_1), be32(2, NFT_CT_STATUS)]),
        // NFTA_BITWISE_SREG = 1, _DREG = 2, _LEN = 3, _MASK = 4, _XOR = 5
        expression(
            "bitwise",
            &[
                be32(1, NFT_REG_1),
                be32(2, NFT_REG_1),
                be32(3, 4),
                data(4, &IPS_DST_NAT.to_ne_bytes()),
                data(5, &0u32.to_ne_bytes()),
            ],
        ),
        cmp(NFT_CMP_NEQ, &0u32.to_ne_bytes()),
    ];
    exprs.splice(2..2, status);
    exprs.push(expression("masq", &[]));
    exprs
}

/// One nfnetlink message of the nf_tables subsystem.
fn message(kind: u16, flags: u16, family: u8, seq: u32, attributes: &[Vec<u8>]) -> Vec<u8> {
    let body = attributes.concat();
    let len = 16 + 4 + body.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | kind).to_ne_bytes());
    out.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    out.extend_from_slice(&[family, 0]); // nfgenmsg: family, version 0
    out.extend_from_slice(&0u16.to_be_bytes()); // res_id
    out.extend_from_slice(&body);
    out
}

fn batch_marker(kind: u16, seq: u32) -> Vec<u8> {
    let len: u32 = 16 + 4;
    let mut out = Vec::with_capacity(len as usize);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    out.extend_from_slice(&NFNL_SUBSYS_NFTABLES.to_be_bytes());
    out
}

/// The batch that replaces vipd's table with one holding `forwards` (none: the table goes).
/// Returns the bytes and the sequence numbers that will be acknowledged.
pub fn replace_table_batch(forwards: &[Forward], first_seq: u32) -> (Vec<u8>, Vec<u32>) {
    let mut seq = first_seq;
    let mut next = || {
        seq += 1;
        seq
    };
    let mut bytes = batch_marker(NFNL_MSG_BATCH_BEGIN, next());
    let mut acked = Vec::new();
    let mut push =
        |bytes: &mut Vec<u8>, kind: u16, flags: u16, attributes: &[Vec<u8>], seq: u32| {
            bytes.extend_from_slice(&message(
                kind,
                flags | NLM_F_ACK,
                NFPROTO_INET,
                seq,
                attributes,
            ));
            acked.push(seq);
        };
    let table = string(NFTA_TABLE_NAME, TABLE);
    // Create if missing, then delete: the table goes whether or not it was there.
    push(
        &mut bytes,
        NFT_MSG_NEWTABLE,
        NLM_F_CREATE,
        std::slice::from_ref(&table),
        next(),
    );
    push(
        &mut bytes,
        NFT_MSG_DELTABLE,
        0,
        std::slice::from_ref(&table),
        next(),
    );
    if !forwards.is_empty() {
        push(&mut bytes, NFT_MSG_NEWTABLE, NLM_F_CREATE, &[table], next());
        let chains = [
            ("prerouting", NF_INET_PRE_ROUTING, -100i32),
            ("output", NF_INET_LOCAL_OUT, -100),
            ("postrouting", NF_INET_POST_ROUTING, 100),
        ];
        for (name, hook, priority) in chains {
            let attributes = [
                string(NFTA_CHAIN_TABLE, TABLE),
                string(NFTA_CHAIN_NAME, name),
                nested(
                    NFTA_CHAIN_HOOK,
                    &[
                        be32(NFTA_HOOK_HOOKNUM, hook),
                        be32(NFTA_HOOK_PRIORITY, priority as u32),
                    ],
                ),
                string(NFTA_CHAIN_TYPE, "nat"),
            ];
            push(
                &mut bytes,
                NFT_MSG_NEWCHAIN,
                NLM_F_CREATE,
                &attributes,
                next(),
            );
        }
        let mut rule = |bytes: &mut Vec<u8>, chain: &str, exprs: Vec<Vec<u8>>, seq: u32| {
            let attributes = [
                string(NFTA_RULE_TABLE, TABLE),
                string(NFTA_RULE_CHAIN, chain),
                nested(NFTA_RULE_EXPRESSIONS, &exprs),
            ];
            push(
                bytes,
                NFT_MSG_NEWRULE,
                NLM_F_CREATE | NLM_F_APPEND,
                &attributes,
                seq,
            );
        };
        for forward in forwards {
            rule(&mut bytes, "prerouting", dnat_rule(forward), next());
            rule(&mut bytes, "output", dnat_rule(forward), next());
            if forward.masquerade {
                rule(&mut bytes, "postrouting", masquerade_rule(forward), next());
            }
        }
    }
    bytes.extend_from_slice(&batch_marker(NFNL_MSG_BATCH_END, next()));
    (bytes, acked)
}

/// A nfnetlink socket for vipd's table.
pub struct Nftables {
    socket: OwnedFd,
    seq: u32,
}

impl Nftables {
    /// Opens the socket in the calling thread's network namespace.
    pub fn new() -> io::Result<Nftables> {
        // SAFETY: plain socket(2) call; the result is checked before being owned.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_NETFILTER,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(raw) };
        // Replies come at once (after a module load at worst); the bound keeps a silent
        // kernel from holding up the event loop.
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 500_000,
        };
        // SAFETY: `timeout` is a live timeval of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Nftables { socket, seq: 0 })
    }

    /// Sends one datagram of requests to the kernel.
    fn send_request(&self, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: sending a buffer we borrow, of the length given.
        let sent = unsafe {
            libc::send(
                self.socket.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receives one datagram of answers into `buffer`: its length.
    fn receive(&self, buffer: &mut [u8]) -> io::Result<usize> {
        // SAFETY: receiving into a buffer we borrow, of the length given.
        let n = unsafe {
            libc::recv(
                self.socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        // A negative count is an error; any other fits in usize.
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Replaces vipd's table with one holding `forwards` (removes it when there are none).
    pub fn replace(&mut self, forwards: &[Forward]) -> io::Result<()> {
        let (bytes, acked) = replace_table_batch(forwards, self.seq);
        self.seq = self.seq.wrapping_add(acked.len() as u32 + 2);
        self.send_request(&bytes)?;
        let mut pending: Vec<u32> = acked;
        let mut first_error = None;
        let mut buffer = vec![0u8; 16384];
        while !pending.is_empty() {
            let n = match self.receive(&mut buffer) {
                Ok(n) => n,
                Err(e) => {
                    return Err(first_error.unwrap_or(io::Error::new(
                        e.kind(),
                        format!("waiting for nftables to answer: {e}"),
                    )))
                }
            };
            for (seq, errno) in acks(&buffer[..n]) {
                pending.retain(|s| *s != seq);
                if errno != 0 && first_error.is_none() {
                    first_error = Some(io::Error::from_raw_os_error(errno));
                    // The kernel aborted the batch: what else it answers adds nothing.
                    pending.clear();
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

const NFT_MSG_GETRULE: u16 = 7;
const NLM_F_DUMP: u16 = 0x300;

/// What vipd needs to know of a rule of another table: whether it translates addresses
/// (`dnat`, `redirect`) and the values it compares packets with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignRule {
    /// `FAMILY NAME` of its table, as `nft list ruleset` writes it.
    pub table: String,
    pub translates: bool,
    pub compared: Vec<Vec<u8>>,
}

impl ForeignRule {
    /// True when the rule DNATs (or redirects) what `forward` takes: it compares with the
    /// VIP and the port. A rule in a NAT chain of lower priority number wins, and in any
    /// case the two would fight over the same connections. Rules that match through sets
    /// or maps are not seen.
    pub fn claims(&self, forward: &Forward) -> bool {
        let address = address_bytes(forward.from.ip());
        let port = forward.from.port().to_be_bytes();
        self.translates
            && self.compared.contains(&address)
            && self.compared.iter().any(|v| v[..] == port[..])
    }
}

fn family_name(family: u8) -> &'static str {
    match family {
        NFPROTO_INET => "inet",
        NFPROTO_IPV4 => "ip",
        NFPROTO_IPV6 => "ip6",
        _ => "other",
    }
}

/// The attributes of a netlink payload as (type without flags, payload).
fn attributes(mut bytes: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([bytes[0], bytes[1]]));
        let ty = u16::from_ne_bytes([bytes[2], bytes[3]]) & !NLA_F_NESTED;
        if len < 4 || len > bytes.len() {
            break;
        }
        out.push((ty, &bytes[4..len]));
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
    }
    out
}

fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Reads the rules of other tables than vipd's out of the datagrams of a rule dump.
/// Malformed parts are skipped (they come from the kernel, but a parser never panics).
fn foreign_rules(mut bytes: &[u8], out: &mut Vec<ForeignRule>) -> bool {
    let mut done = false;
    while bytes.len() >= 16 {
        let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
        if len < 16 || len > bytes.len() {
            break;
        }
        let message = &bytes[..len];
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
        if kind == libc::NLMSG_DONE as u16 || kind == libc::NLMSG_ERROR as u16 {
            done = true;
            continue;
        }
        if kind != (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE || len < 20 {
            continue;
        }
        let family = message[16];
        let mut rule = ForeignRule {
            table: String::new(),
            translates: false,
            compared: Vec::new(),
        };
        for (ty, value) in attributes(&message[20..]) {
            match ty {
                NFTA_RULE_TABLE => rule.table = text(value),
                NFTA_RULE_EXPRESSIONS => {
                    for (_, element) in attributes(value) {
                        let parts = attributes(element);
                        let name = (parts.iter())
                            .find(|(t, _)| *t == NFTA_EXPR_NAME)
                            .map(|(_, v)| text(v))
                            .unwrap_or_default();
                        let data = (parts.iter()).find(|(t, _)| *t == NFTA_EXPR_DATA);
                        match (name.as_str(), data) {
                            ("nat" | "redir", _) => rule.translates = true,
                            // NFTA_CMP_DATA = 3, holding NFTA_DATA_VALUE.
                            ("cmp", Some((_, data))) => {
                                for (t, inner) in attributes(data) {
                                    if t == 3 {
                                        for (t, v) in attributes(inner) {
                                            if t == NFTA_DATA_VALUE {
                                                rule.compared.push(v.to_vec());
                                            }
                                        }
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if !(family == NFPROTO_INET && rule.table == TABLE) {
            rule.table = format!("{} {}", family_name(family), rule.table);
            out.push(rule);
        }
    }
    done
}

impl Nftables {
    /// The rules of every other table (any family) that translate addresses.
    pub fn foreign_nat_rules(&mut self) -> io::Result<Vec<ForeignRule>> {
        self.seq = self.seq.wrapping_add(1);
        let request = message(
            NFT_MSG_GETRULE,
            NLM_F_DUMP,
            libc::AF_UNSPEC as u8,
            self.seq,
            &[],
        );
        self.send_request(&request)?;
        let mut rules = Vec::new();
        let mut buffer = vec![0u8; 65536];
        loop {
            let n = self.receive(&mut buffer)?;
            if foreign_rules(&buffer[..n], &mut rules) || n == 0 {
                break;
            }
        }
        rules.retain(|r| r.translates);
        Ok(rules)
    }
}

/// (sequence, errno) of every NLMSG_ERROR (acknowledgement when errno is 0) in a datagram.
fn acks(mut bytes: &[u8]) -> Vec<(u32, i32)> {
    let mut out = Vec::new();
    while bytes.len() >= 16 {
        let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
        let seq = u32::from_ne_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if len < 16 || len > bytes.len() {
            break;
        }
        if kind == libc::NLMSG_ERROR as u16 && len >= 20 {
            let error = i32::from_ne_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
            out.push((seq, -error));
        }
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(from: &str, to: &str, masquerade: bool) -> Forward {
        Forward {
            protocol: Protocol::Tcp,
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            masquerade,
        }
    }

    fn rule_message(family: u8, table: &str, exprs: Vec<Vec<u8>>) -> Vec<u8> {
        message(
            NFT_MSG_NEWRULE,
            0,
            family,
            1,
            &[
                string(NFTA_RULE_TABLE, table),
                string(NFTA_RULE_CHAIN, "prerouting"),
                nested(NFTA_RULE_EXPRESSIONS, &exprs),
            ],
        )
    }

    #[test]
    fn a_dnat_rule_of_another_table_claims_the_same_vip_and_port() {
        let theirs = forward("192.0.2.100:6443", "198.51.100.14:7443", false);
        let mut dump = rule_message(NFPROTO_INET, "other", dnat_rule(&theirs));
        dump.extend(rule_message(NFPROTO_INET, TABLE, dnat_rule(&theirs)));
        dump.extend(rule_message(
            NFPROTO_IPV4,
            "filter",
            match_destination(theirs.from.ip(), Protocol::Tcp, 6443),
        ));
        let mut rules = Vec::new();
        assert!(!foreign_rules(&dump, &mut rules), "no NLMSG_DONE yet");
        assert_eq!(rules.len(), 2, "vipd's own table is not foreign: {rules:?}");
        assert_eq!(rules[0].table, "inet other");
        assert!(rules[0].claims(&forward("192.0.2.100:6443", "203.0.113.5:80", true)));
        assert!(!rules[0].claims(&forward("192.0.2.100:6444", "203.0.113.5:80", true)));
        assert!(!rules[0].claims(&forward("192.0.2.101:6443", "203.0.113.5:80", true)));
        assert_eq!(rules[1].table, "ip filter");
        assert!(
            !rules[1].claims(&theirs),
            "a filter rule translates nothing"
        );
        // Any cut of the dump is read without panicking.
        for end in 0..dump.len() {
            foreign_rules(&dump[..end], &mut Vec::new());
        }
    }

    /// Walks a batch: (nlmsg type, flags, seq) of each message, checking every length.
    fn messages(mut bytes: &[u8]) -> Vec<(u16, u16, u32)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let len = u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize;
            assert!(
                len >= 20 && len <= bytes.len() && len % 4 == 0,
                "length {len}"
            );
            out.push((
                u16::from_ne_bytes(bytes[4..6].try_into().unwrap()),
                u16::from_ne_bytes(bytes[6..8].try_into().unwrap()),
                u32::from_ne_bytes(bytes[8..12].try_into().unwrap()),
            ));
            bytes = &bytes[len..];
        }
        out
    }

    const NFT: u16 = NFNL_SUBSYS_NFTABLES << 8;

    #[test]
    fn an_empty_batch_only_removes_the_table() {
        let (bytes, acked) = replace_table_batch(&[], 0);
        let kinds: Vec<u16> = messages(&bytes).iter().map(|m| m.0).collect();
        assert_eq!(
            kinds,
            [
                NFNL_MSG_BATCH_BEGIN,
                NFT | NFT_MSG_NEWTABLE,
                NFT | NFT_MSG_DELTABLE,
                NFNL_MSG_BATCH_END
            ]
        );
        assert_eq!(acked, [2, 3]);
    }

    #[test]
    fn forwards_get_chains_and_rules_in_one_batch() {
        let forwards = [
            forward("192.0.2.100:6443", "198.51.100.21:7443", true),
            forward("[2001:db8::100]:443", "[2001:db8:1::21]:8443", false),
        ];
        let (bytes, acked) = replace_table_batch(&forwards, 10);
        let all = messages(&bytes);
        let kinds: Vec<u16> = all.iter().map(|m| m.0 & 0xff).collect();
        // begin, new, del, new table, 3 chains, v4: 2 dnat + 1 masq, v6: 2 dnat, end
        assert_eq!(kinds, [0x10, 0, 2, 0, 3, 3, 3, 6, 6, 6, 6, 6, 0x11]);
        assert_eq!(acked.len(), 11);
        assert_eq!(all.first().unwrap().2, 11);
        let rule_flags = all[7].1;
        assert_eq!(
            rule_flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND
        );
    }

    #[test]
    fn the_dnat_rule_carries_addresses_ports_and_registers() {
        let exprs = dnat_rule(&forward("192.0.2.100:6443", "198.51.100.21:7443", false));
        let names: Vec<String> = exprs
            .iter()
            .map(|e| {
                // LIST_ELEM header (4), NAME header (4), then the NUL-terminated name.
                let text = &e[8..];
                String::from_utf8_lossy(&text[..text.iter().position(|b| *b == 0).unwrap()])
                    .into_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "meta",
                "cmp",
                "payload",
                "cmp",
                "meta",
                "cmp",
                "payload",
                "cmp",
                "immediate",
                "immediate",
                "nat"
            ]
        );
        let all = exprs.concat();
        let contains = |needle: &[u8]| all.windows(needle.len()).any(|w| w == needle);
        assert!(contains(&[192, 0, 2, 100]));
        assert!(contains(&[198, 51, 100, 21]));
        assert!(contains(&6443u16.to_be_bytes()));
        assert!(contains(&7443u16.to_be_bytes()));
    }

    #[test]
    fn masquerade_checks_the_dnat_status_before_the_addresses() {
        let exprs = masquerade_rule(&forward("192.0.2.100:6443", "198.51.100.21:7443", true));
        assert_eq!(exprs.len(), 12);
        assert!(String::from_utf8_lossy(&exprs[2]).contains("ct"));
        assert!(String::from_utf8_lossy(&exprs[11]).contains("masq"));
    }

    #[test]
    fn acknowledgements_and_errors_are_read_from_a_datagram() {
        let mut datagram = Vec::new();
        for (seq, error) in [(5u32, 0i32), (6, -libc::ENOENT)] {
            datagram.extend_from_slice(&36u32.to_ne_bytes());
            datagram.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
            datagram.extend_from_slice(&0u16.to_ne_bytes());
            datagram.extend_from_slice(&seq.to_ne_bytes());
            datagram.extend_from_slice(&0u32.to_ne_bytes());
            datagram.extend_from_slice(&error.to_ne_bytes());
            datagram.extend_from_slice(&[0; 16]);
        }
        assert_eq!(acks(&datagram), [(5, 0), (6, libc::ENOENT)]);
        // A truncated or garbage datagram yields what is whole, never panics.
        assert_eq!(acks(&datagram[..40]), [(5, 0)]);
        assert!(acks(&[0xff; 7]).is_empty());
        assert!(acks(&[0; 64]).is_empty());
    }
}
