//! The VRRP protocol core: no sockets, no clocks. Time and packets go in, actions come out.

pub mod accept;
pub mod ah;
pub mod checksum;
pub mod instance;
pub mod packet;
pub mod timer;
