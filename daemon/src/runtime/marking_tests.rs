//! Every runtime path that changes instances' state machines marks each of them in the
//! schedule, so that the loop performs what each one queued. The paths are called on the
//! daemon directly, without the event loop's wider marks around them: a path that forgot
//! one instance (a reload removing several stopped only the first) fails here.
//!
//! The instances are on an interface that does not exist: nothing reaches the network.

use std::time::Instant;

use super::*;
use crate::control::access::Peer;
use crate::control::protocol::Target;
use crate::vrrp::instance::DrainMode;

const INSTANCES: usize = 3;

pub(super) struct Lab {
    dir: PathBuf,
    pub(super) daemon: Daemon,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A daemon with `count` instances `vi0`.. (VRID 10.., VIP 192.0.2.10.., priority 100,
/// v3 every `advert`) on interfaces that do not exist.
pub(super) fn lab(name: &str, count: usize, advert: &str) -> Lab {
    let dir = std::env::temp_dir().join(format!("vipd-marking-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("[global]\nvrrp_version = 3\n");
    for i in 0..count {
        text.push_str(&format!(
            "[[instance]]\nname = \"vi{i}\"\ninterface = \"vipdnone{i}\"\nvrid = {}\n\
             priority = 100\nadvert_interval = \"{advert}\"\nvips = [\"192.0.2.{}/24\"]\n\
             track_interfaces = [{{ name = \"vipdnotrack\", weight = -10 }}]\n",
            10 + i,
            10 + i
        ));
    }
    let path = dir.join("vipd.toml");
    std::fs::write(&path, text).unwrap();
    let config = config::load(&path).unwrap();
    let options = RunOptions {
        config: Some(path.clone()),
        socket: dir.join("vipd.sock"),
        state_dir: dir.clone(),
        control_group: None,
        metrics_listen: None,
        read_options: config::ReadOptions::default(),
        pid_files: Vec::new(),
        keepalived_pid_files: None,
        net_namespace: None,
        daemonize: false,
    };
    let daemon = Daemon::new(path, config, options).unwrap();
    Lab { dir, daemon }
}

pub(super) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(future)
}

/// Each instance is marked (or all are), then its queued actions are performed.
fn assert_marked_then_processed(daemon: &mut Daemon, path: &str) {
    let count = daemon.routers.len();
    assert_eq!(count, INSTANCES, "{path}");
    if let Some(touched) = daemon.schedule.touched() {
        for index in 0..count {
            assert!(
                touched.contains(&(index as u32)),
                "{path}: instance {index} changed but not marked (marked: {touched:?})"
            );
        }
    }
    block_on(daemon.process_actions());
    for (index, router) in daemon.routers.iter_mut().enumerate() {
        assert!(
            router.poll_action().is_none(),
            "{path}: instance {index} still has actions queued"
        );
    }
    assert_eq!(
        daemon.schedule.touched(),
        Some(&[][..]),
        "{path}: looked at"
    );
}

#[test]
fn every_path_that_changes_state_machines_marks_each_instance() {
    let mut lab = lab("paths", INSTANCES, "100ms");
    let daemon = &mut lab.daemon;
    let all: Vec<usize> = (0..INSTANCES).collect();
    block_on(daemon.process_actions());

    daemon.start_routers(&all, Instant::now());
    assert_marked_then_processed(daemon, "start");
    assert!(daemon.routers.iter().all(|r| r.fsm().is_fault()));
    let transitions: Vec<u64> = daemon
        .routers
        .iter()
        .map(|r| r.fsm().transitions())
        .collect();

    // Their interfaces come (as a link event would find them): out of FAULT.
    for (i, router) in daemon.routers.iter_mut().enumerate() {
        router.link_up = true;
        router.source = Some(IpAddr::from([192, 0, 2, 100 + i as u8]));
    }
    daemon.apply_faults(Instant::now());
    assert_marked_then_processed(daemon, "fault cleared");
    for (router, before) in daemon.routers.iter().zip(&transitions) {
        assert_eq!(router.fsm().state(), State::Backup);
        assert!(router.fsm().transitions() > *before);
    }

    // A tracked interface goes down and comes back: priority changes.
    for up in [true, false] {
        daemon.tracked_links.insert("vipdnotrack".into(), up);
        daemon.apply_tracking(Instant::now());
        assert_marked_then_processed(daemon, "priority");
    }
    assert!(daemon
        .routers
        .iter()
        .all(|r| r.fsm().effective_priority() == 90));

    let peer = Peer {
        uid: 0,
        gid: 0,
        pid: 1,
        groups: Vec::new(),
        name: None,
    };
    let change = |daemon: &mut Daemon, drain: bool| {
        let (reply, answer) = tokio::sync::oneshot::channel();
        block_on(async {
            if drain {
                daemon.drain_request(&Target::All, DrainMode::Hard, &peer, reply);
            } else {
                daemon.resume_request(&Target::All, &peer, reply);
            }
            let written = super::ops::drain_written(&mut daemon.ops.drain_write).await;
            daemon.finish_drain_write(written);
        });
        let answer = answer.blocking_recv().unwrap();
        assert!(answer.ok, "{answer:?}");
    };
    change(daemon, true);
    assert_marked_then_processed(daemon, "drain");
    assert!(daemon
        .routers
        .iter()
        .all(|r| r.fsm().drain_mode().is_some()));
    change(daemon, false);
    assert_marked_then_processed(daemon, "resume");

    // Back to FAULT, all at once.
    for router in &mut daemon.routers {
        router.link_up = false;
    }
    daemon.apply_faults(Instant::now());
    assert_marked_then_processed(daemon, "fault");
    assert!(daemon.routers.iter().all(|r| r.fsm().is_fault()));

    // Netlink events were lost: links read again, masters speak up.
    daemon.resync(Instant::now());
    assert_marked_then_processed(daemon, "resync");

    daemon.begin_stop("SIGTERM");
    assert_marked_then_processed(daemon, "handover");
    daemon.begin_stop("SIGTERM");
    assert_marked_then_processed(daemon, "stop");
    assert!(daemon.routers.iter().all(|r| r.fsm().is_stopped()));
}

/// Drains and resumes are applied once their file is written (off the event loop), in the
/// order asked: one asked while another's file is written waits for it.
#[test]
fn drains_asked_while_the_drain_file_is_written_are_applied_in_order() {
    use crate::control::protocol::Request;
    let mut lab = lab("drain-queue", 2, "1s");
    let daemon = &mut lab.daemon;
    let all: Vec<usize> = (0..2).collect();
    daemon.start_routers(&all, Instant::now());
    let peer = Peer {
        uid: 0,
        gid: 0,
        pid: 1,
        groups: Vec::new(),
        name: None,
    };
    let drained = |daemon: &Daemon| {
        (daemon.routers.iter())
            .filter(|r| r.fsm().drain_mode().is_some())
            .count()
    };
    let (drain, drain_answer) = tokio::sync::oneshot::channel();
    let (resume, resume_answer) = tokio::sync::oneshot::channel();
    block_on(async {
        let request = Request::Drain {
            target: Target::All,
            mode: DrainMode::Hard,
        };
        daemon.change_request(request, peer.clone(), drain);
        let request = Request::Resume {
            target: Target::All,
        };
        daemon.change_request(request, peer.clone(), resume);
        assert_eq!(drained(daemon), 0, "applied before it was written");
        let written = super::ops::drain_written(&mut daemon.ops.drain_write).await;
        daemon.finish_drain_write(written);
        assert_eq!(drained(daemon), 2, "the drain first");
        assert!(
            daemon.ops.drain_write.is_some(),
            "then the resume is written"
        );
        let written = super::ops::drain_written(&mut daemon.ops.drain_write).await;
        daemon.finish_drain_write(written);
        assert_eq!(drained(daemon), 0, "then the resume");
    });
    assert!(drain_answer.blocking_recv().unwrap().ok);
    assert!(resume_answer.blocking_recv().unwrap().ok);
}
