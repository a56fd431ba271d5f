//! What one wake-up of the event loop does, on a daemon whose instances are on interfaces
//! that do not exist (nothing reaches the network): a VRRP socket is stood in for by a
//! datagram socket pair, one end read by the loop as it reads a raw socket.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use nix::sys::socket::MsgFlags;

use super::marking_tests::{block_on, lab};
use super::*;
use crate::net::socket::{Family, Mode, Received};
use crate::vrrp::packet::{Advertisement, Auth, ChecksumMode, Version};

/// Gives instance 0 a socket the loop reads: what is sent to the returned end reaches it.
fn socket_of_instance_0(daemon: &mut Daemon) -> OwnedFd {
    let key = daemon.routers[0].key.clone();
    let group = IpAddr::from(GROUP);
    let (socket, theirs) =
        VrrpSocket::pair_for_tests(Family::V4, &key.interface, Mode::Multicast { group });
    let reader = SocketReader::default();
    reader.vrids.replace([daemon.routers[0].cfg.vrid]);
    let socket = Arc::new(socket);
    daemon.sockets.insert(key, OpenSocket { socket, reader });
    theirs
}

const MASTER: [u8; 4] = [192, 0, 2, 200];
const GROUP: [u8; 4] = [224, 0, 0, 18];

/// The master's advert for `vi0` (VRID 10) as a raw IPv4 socket reads it.
fn advert_from_master(arrived: Instant) -> Received {
    let payload = Advertisement {
        version: Version::V3,
        vrid: 10,
        priority: 200,
        advert_interval_cs: 1,
        addresses: vec![IpAddr::from([192, 0, 2, 10])],
        auth: Auth::None,
    }
    .to_bytes(MASTER.into(), GROUP.into(), ChecksumMode::PseudoHeader);
    let total = u16::try_from(20 + payload.len()).unwrap().to_be_bytes();
    let mut data = vec![0x45, 0xc0, total[0], total[1], 0, 0, 0, 0, 255, 112, 0, 0];
    data.extend_from_slice(&MASTER);
    data.extend_from_slice(&GROUP);
    data.extend_from_slice(&payload);
    Received {
        data: crate::net::socket::PacketBytes::from_slice(&data),
        src: MASTER.into(),
        dst: GROUP.into(),
        hop_limit: 255,
        ifindex: 0,
        arrived,
    }
}

/// A process stopped for a while (SIGSTOP, or not scheduled) wakes for an advert it read
/// before the pause, or for anything but its timer: the adverts that reached the socket
/// meanwhile are heard before its Master_Down timer is acted on, so a backup whose master
/// kept advertising stays backup.
#[test]
fn a_backup_woken_late_hears_the_queued_adverts_before_its_master_down_timer() {
    let mut lab = lab("wake", 1, "10ms");
    let daemon = &mut lab.daemon;
    block_on(async {
        daemon.start_routers(&[0], Instant::now());
        daemon.routers[0].link_up = true;
        daemon.routers[0].source = Some(IpAddr::from([192, 0, 2, 100]));
        daemon.apply_faults(Instant::now());
        daemon.process_actions().await;
        assert_eq!(daemon.routers[0].fsm().state(), State::Backup);
        let key = daemon.routers[0].key.clone();
        let socket = socket_of_instance_0(daemon);
        // The master was heard, then the process stood still past Master_Down_Interval.
        let heard = Instant::now();
        daemon.on_packet(&key, None, &advert_from_master(heard).view(), heard);
        assert_eq!(daemon.routers[0].fsm().master_priority(), Some(200));
        std::thread::sleep(Duration::from_millis(60));
        assert!((daemon.routers[0].fsm().poll_timeout()).is_some_and(|t| t <= Instant::now()));
        let transitions = daemon.routers[0].fsm().transitions();
        // Meanwhile the master's advert reached the socket; the reactor has not seen it.
        let queued = advert_from_master(Instant::now());
        nix::sys::socket::send(socket.as_raw_fd(), &queued.data, MsgFlags::empty()).unwrap();
        daemon.handle_due_timers_after_pending_adverts().await;
        assert_eq!(
            daemon.routers[0].counters.received, 2,
            "the queued advert unread"
        );
        daemon.process_actions().await;
        assert_eq!(daemon.routers[0].fsm().state(), State::Backup);
        assert_eq!(daemon.routers[0].fsm().transitions(), transitions);
    });
}

/// The slot remembered for a (socket, VRID) is trusted within a generation of the schedule
/// only: a reload that reorders or removes instances starts a new one, and the next advert
/// finds its instance where it is now.
#[test]
fn an_advert_finds_its_instance_after_a_reload_changed_the_list() {
    let mut lab = lab("slots", 2, "10ms");
    let daemon = &mut lab.daemon;
    let keys: Vec<(SocketKey, u8)> = (daemon.routers.iter())
        .map(|r| (r.key.clone(), r.cfg.vrid))
        .collect();
    for _ in 0..2 {
        for (index, (key, vrid)) in keys.iter().enumerate() {
            assert_eq!(daemon.router_index(key, None, *vrid), Some(index));
        }
    }
    daemon.routers.swap(0, 1);
    daemon.schedule.touch_all();
    for (index, (key, vrid)) in keys.iter().enumerate() {
        assert_eq!(daemon.router_index(key, None, *vrid), Some(1 - index));
    }
    daemon.routers.truncate(1);
    daemon.schedule.touch_all();
    assert_eq!(daemon.router_index(&keys[0].0, None, keys[0].1), None);
    assert_eq!(daemon.router_index(&keys[1].0, None, keys[1].1), Some(0));
}
