//! The three virtual routers the interoperability labs run against keepalived and FRR: one
//! each of VRRPv3 over IPv4, VRRPv3 over IPv6 and VRRPv2 (keepalived's and vipd's side with
//! a PASS password). Each test file adds what only it needs.

use std::net::IpAddr;
use std::time::Duration;

use super::{v2_pass, v3_ipv4, v3_ipv6, vip4, vip6, ADVERT, SETTLE};
use crate::lab::keepalived_conf::VrrpInstance;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Variant {
    V3Ipv4,
    V3Ipv6,
    V2Pass,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::V3Ipv4 => "VI_1",
            Variant::V3Ipv6 => "VI_6",
            Variant::V2Pass => "VI_2",
        }
    }

    pub fn vrid(self) -> u8 {
        match self {
            Variant::V3Ipv4 => 51,
            Variant::V3Ipv6 => 52,
            Variant::V2Pass => 61,
        }
    }

    pub fn vip(self) -> IpAddr {
        match self {
            Variant::V3Ipv4 => vip4(),
            Variant::V3Ipv6 => vip6(),
            Variant::V2Pass => "192.0.2.101".parse().expect("address"),
        }
    }

    pub fn ipv6(self) -> bool {
        self == Variant::V3Ipv6
    }

    pub fn advert(self) -> Duration {
        match self {
            Variant::V2Pass => Duration::from_secs(1),
            _ => ADVERT,
        }
    }

    /// The instance as keepalived and vipd run it (see `v3_ipv4`, `v3_ipv6`, `v2_pass`).
    pub fn instance(self, priority: u8) -> VrrpInstance {
        match self {
            Variant::V3Ipv4 => v3_ipv4(priority),
            Variant::V3Ipv6 => v3_ipv6(priority),
            Variant::V2Pass => v2_pass(priority),
        }
    }

    /// Bound for elections and failovers between running routers: a few
    /// Master_Down_Intervals.
    pub fn settle(self) -> Duration {
        SETTLE.max(self.advert() * 8)
    }
}
