//! Arbitrary adverts, as the receive path hands them to the core (any source, priority and
//! interval), into an instance in each state: backup (fresh or following a master), master,
//! master handing over (a stop or a drain), hard-drained backup, FAULT, stopped.
//!
//! Input: flags (bit 0 v3, bit 1 preempt), the state (mod 8), our priority, then up to 16
//! adverts of 5 bytes: source (ours, two peers, a stranger), priority, interval in
//! centiseconds (2 bytes, 0 included), milliseconds / 4 since the previous one (due timers
//! fire first, as in the daemon).
//!
//! Properties beyond "no panic":
//! - an advert the core discards (an interval of 0, a v2 interval that is not ours, our own
//!   source, an instance in INIT or FAULT) leaves the whole instance as it was, but for the
//!   counter of discarded adverts: nothing now and nothing later differs;
//! - no advert makes a router master by itself: a takeover always waits for a timer;
//! - a master that is not handing over stays master on an advert of lower priority (not 0).
#![no_main]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vipd::vrrp::instance::{DrainMode, Instance, InstanceParams, ReceivedAdvert, State, Version};

const OURS: [u8; 4] = [192, 0, 2, 10];

fn address(last: u8) -> IpAddr {
    IpAddr::from([OURS[0], OURS[1], OURS[2], last])
}

/// Runs the instance's timers up to `now` and drops what it asks the shell to do.
fn advance(instance: &mut Instance, now: Instant) {
    for _ in 0..1000 {
        match instance.poll_timeout() {
            Some(at) if at <= now => instance.handle_timeout(at),
            _ => break,
        }
        while instance.poll_action().is_some() {}
    }
    while instance.poll_action().is_some() {}
}

fn setup(selector: u8, version: Version, priority: u8, preempt: bool, t0: Instant) -> Instance {
    let mut params = InstanceParams::new(51, address(OURS[3]));
    params.version = version;
    params.priority = priority.max(1);
    params.preempt = preempt;
    params.advert_interval = match version {
        Version::V2 => Duration::from_secs(1),
        Version::V3 => Duration::from_millis(100),
    };
    let interval = params.advert_interval;
    let mut instance = Instance::new(params);
    instance.start(t0);
    let master_by = t0 + Duration::from_secs(10);
    match selector % 8 {
        0 => {}
        1 => {
            let master = ReceivedAdvert {
                source: address(11),
                priority: 200,
                advert_interval: interval,
            };
            instance.handle_advert(t0, &master);
        }
        2 => advance(&mut instance, master_by),
        3 => {
            advance(&mut instance, master_by);
            instance.begin_handover(master_by, instance.handover_bound());
        }
        4 => {
            advance(&mut instance, master_by);
            instance.drain(master_by, DrainMode::Soft, instance.handover_bound());
        }
        5 => instance.drain(t0, DrainMode::Hard, instance.handover_bound()),
        6 => instance.set_fault(t0, true),
        _ => {
            advance(&mut instance, master_by);
            instance.shutdown(master_by);
        }
    }
    while instance.poll_action().is_some() {}
    instance
}

/// The instance's whole state, but for the counter of discarded adverts.
fn state_of(instance: &Instance) -> String {
    let text = format!("{instance:?}");
    let Some(at) = text.find("discarded_adverts: ") else {
        return text;
    };
    let digits = text[at + 19..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(text.len(), |end| at + 19 + end);
    format!("{}{}", &text[..at], &text[digits..])
}

fuzz_target!(|data: &[u8]| {
    let [flags, selector, priority, rest @ ..] = data else {
        return;
    };
    let version = if flags & 1 == 0 {
        Version::V2
    } else {
        Version::V3
    };
    let t0 = Instant::now();
    let mut instance = setup(*selector, version, *priority, flags & 2 != 0, t0);
    let mut now = t0 + Duration::from_secs(10);
    for chunk in rest.chunks_exact(5).take(16) {
        now += Duration::from_micros(u64::from(chunk[4]) * 4000);
        advance(&mut instance, now);
        let advert = ReceivedAdvert {
            source: address([OURS[3], 11, 12, 66][usize::from(chunk[0] % 4)]),
            priority: chunk[1],
            advert_interval: Duration::from_millis(
                u64::from(u16::from_be_bytes([chunk[2], chunk[3]])) * 10,
            ),
        };
        let before = instance.clone();
        let was = instance.state();
        let handing_over = instance.is_handing_over();
        instance.handle_advert(now, &advert);
        let discarded = instance.discarded_adverts() > before.discarded_adverts()
            || matches!(was, State::Initialize | State::Fault)
            || advert.source == address(OURS[3]);
        if discarded {
            assert_eq!(state_of(&instance), state_of(&before), "{advert:?}");
        }
        if was != State::Master {
            assert_ne!(instance.state(), State::Master, "{was:?} {advert:?}");
        }
        if was == State::Master
            && !handing_over
            && advert.priority != 0
            && advert.priority < before.advertised_priority()
        {
            assert_eq!(instance.state(), State::Master, "{advert:?}");
        }
        while instance.poll_action().is_some() {}
    }
});
