//! The notification queue with real scripts: a flapping instance cannot make notifications
//! pile up (memory) or run arbitrarily late; the latest state of every instance is always
//! delivered, in transition order, with increasing sequence numbers.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vipd::services::notify::{Job, Notifier, NotifyState};

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("notify-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = dir.join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o1777)).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A notify script that takes a while and appends "SEQ NAME STATE" to the log.
fn slow_script(dir: &Scratch) -> (PathBuf, PathBuf) {
    let log = dir.0.join("out/log");
    let script = dir.0.join("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 0.2\necho \"$VIPD_NOTIFY_SEQ $1 $2\" >> {}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

fn job(script: &Path, name: &str, state: NotifyState) -> Vec<Job> {
    vec![Job {
        argv: vec![
            script.to_str().unwrap().to_string(),
            name.to_string(),
            state.as_str().to_string(),
        ],
        user: Some("root".into()),
        group: None,
    }]
}

fn lines(log: &Path) -> Vec<(u64, String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            (
                w.next().unwrap().parse().unwrap(),
                w.next().unwrap().to_string(),
                w.next().unwrap().to_string(),
            )
        })
        .collect()
}

fn state(i: usize) -> NotifyState {
    match i % 3 {
        0 => NotifyState::Master,
        1 => NotifyState::Backup,
        _ => NotifyState::Fault,
    }
}

#[tokio::test]
async fn notify_flapping_is_coalesced_and_the_latest_state_is_delivered_in_order() {
    let dir = Scratch::new("flap");
    let (script, log) = slow_script(&dir);
    let notifier = Notifier::spawn(Duration::from_secs(10));
    // Two instances flap 300 times while every script run takes 200 ms: run one by one,
    // that would be a minute of notifications, each later than the one before.
    let mut last = [NotifyState::Master; 2];
    for i in 0..300 {
        let which = i % 2;
        let name = ["a", "b"][which];
        last[which] = state(i / 2);
        notifier.notify(
            &format!("INSTANCE {name}"),
            last[which],
            job(&script, name, last[which]),
        );
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    let stats = notifier.stats();
    assert!(stats.waiting <= 2, "{stats:?}");
    assert_eq!(stats.last_seq, 300);
    notifier.finish(Duration::from_secs(20)).await;
    let got = lines(&log);
    // Few runs, not 300.
    assert!(got.len() <= 14, "{} notifications ran: {got:?}", got.len());
    // In transition order.
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "{got:?}");
    // The latest state of each instance is what it was told last.
    for (which, name) in ["a", "b"].iter().enumerate() {
        let final_line = got.iter().rev().find(|(_, n, _)| n == name).unwrap();
        assert_eq!(final_line.2, last[which].as_str(), "{got:?}");
    }
    // Every transition was either run or replaced by a newer one of its instance.
    assert_eq!(got.len() as u64 + stats.dropped, 300, "{stats:?}");
}

#[tokio::test]
async fn notify_transitions_of_different_instances_all_arrive_in_order() {
    let dir = Scratch::new("order");
    let (script, log) = slow_script(&dir);
    let notifier = Notifier::spawn(Duration::from_secs(10));
    let names = ["a", "b", "c", "d"];
    for name in names {
        notifier.notify(
            &format!("INSTANCE {name}"),
            NotifyState::Master,
            job(&script, name, NotifyState::Master),
        );
    }
    notifier.finish(Duration::from_secs(20)).await;
    let got: Vec<String> = lines(&log).into_iter().map(|(_, n, _)| n).collect();
    assert_eq!(got, names);
}
