//! The network shell: raw VRRP sockets, rtnetlink addresses and link events, ARP/NA.
