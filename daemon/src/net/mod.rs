//! The network shell: raw VRRP sockets, rtnetlink addresses and link events, ARP/NA, VMAC
//! interfaces (macvlans), vipd's nftables table for forwards.
//!
//! Linux only. Nothing here knows the VRRP packet format or state machine: these modules move
//! bytes and addresses between the kernel and the protocol core.

pub mod announce;
pub mod checks;
pub mod link;
pub mod monitor;
pub mod namespace;
pub mod netlink;
pub mod nft;
pub mod routes;
pub mod socket;
pub mod vmac;
