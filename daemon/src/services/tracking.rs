//! From the configuration to running health checks, and from check health to each
//! instance's priority: the glue between `config` and `check`, shared by `vipd run` and
//! `vipd check`.

use std::collections::BTreeMap;

use crate::check::oneliner::{self, OneLiner};
use crate::check::process::{self, Matcher, Quorum};
use crate::check::{self, CheckKind, CheckSpec, Contribution, Health, Priority};
use crate::config::{self, Config};

/// The health checks to run, one per configured check (shared by name between instances).
pub fn check_specs(cfg: &Config) -> Result<Vec<CheckSpec>, String> {
    cfg.checks
        .iter()
        .map(|c| check_spec(c, &cfg.global))
        .collect()
}

/// The matcher a process check configures.
pub fn process_matcher(p: &config::ProcessCheck) -> Matcher {
    match p.match_by {
        config::ProcessMatch::Name => Matcher::Name(p.process.clone()),
        config::ProcessMatch::NameContains => Matcher::NameContains(p.process.clone()),
        config::ProcessMatch::Pidof => Matcher::Pidof {
            name: p.process.clone(),
            scripts: false,
        },
        config::ProcessMatch::PidofScripts => Matcher::Pidof {
            name: p.process.clone(),
            scripts: true,
        },
        config::ProcessMatch::Command => Matcher::Command {
            argv0: p.process.clone(),
            params: p.args.clone(),
            param_match: match p.param_match {
                config::ParamMatch::Any => process::ParamMatch::Any,
                config::ParamMatch::Exact => process::ParamMatch::Exact,
                config::ParamMatch::Partial => process::ParamMatch::Partial,
                config::ParamMatch::Initial => process::ParamMatch::Initial,
            },
        },
    }
}

fn check_spec(c: &config::Check, global: &config::Global) -> Result<CheckSpec, String> {
    let kind = match &c.kind {
        config::CheckKind::Exec {
            argv,
            user,
            group,
            command,
        } => match oneliner::recognize(argv) {
            // Runs without a fork, and works whoever vipd's script user is (`killall -0`
            // as nobody cannot signal root's haproxy).
            Some(OneLiner::Process(matcher)) => CheckKind::Process {
                matcher,
                quorum: Quorum::any(),
                replaces: Some(command.clone()),
            },
            _ => {
                // A script's own `user` replaces script_user and script_group.
                let (user, group) = match user {
                    Some(u) => (Some(u.clone()), group.clone()),
                    None => (global.script_user.clone(), global.script_group.clone()),
                };
                CheckKind::Exec {
                    argv: argv.clone(),
                    user,
                    group,
                }
            }
        },
        config::CheckKind::Process(p) => CheckKind::Process {
            matcher: process_matcher(p),
            quorum: Quorum::new(p.quorum, p.quorum_max, p.fork_delay, p.terminate_delay),
            replaces: None,
        },
        config::CheckKind::Tcp { host, port } => CheckKind::Tcp {
            host: host.clone(),
            port: *port,
        },
        config::CheckKind::Http {
            url,
            expected_status,
            insecure_skip_verify,
            host_header,
        } => CheckKind::Http {
            url: check::Url::parse(&url.to_string())
                .map_err(|e| format!("check {}: {e}", c.name))?,
            expect_status: expected_status.clone(),
            insecure: *insecure_skip_verify,
            host_header: host_header.clone(),
        },
        config::CheckKind::File { path } => CheckKind::File { path: path.clone() },
        config::CheckKind::Interface { name } => CheckKind::Interface { name: name.clone() },
    };
    Ok(CheckSpec {
        name: c.name.clone(),
        kind,
        interval: c.interval,
        timeout: c.timeout.unwrap_or(c.interval),
        rise: c.rise,
        fall: c.fall,
        weight: c.weight,
        init_fail: c.init_fail,
    })
}

/// What `vipd check` refuses beyond the syntax: checks that are invalid as configured, and
/// tcp/http hosts that do not resolve. Returns one message per problem. Scripts that cannot
/// run are not errors (see [`script_warnings`]).
pub fn preflight(cfg: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    match check_specs(cfg) {
        Ok(specs) => {
            for spec in &specs {
                if let Err(e) = check::validate(spec) {
                    problems.push(e);
                    continue;
                }
                if let Err(e) = check::check_host_resolves(spec) {
                    problems.push(e);
                }
            }
        }
        Err(e) => problems.push(e),
    }
    problems
}

/// Scripts that cannot run now (missing, not executable, unsafe, unknown user), as
/// warnings: like keepalived, vipd runs without them (a check is disabled and tried again at
/// every interval; a notification is skipped and tried again at the next transition).
pub fn script_warnings(cfg: &Config) -> Vec<String> {
    script_problems(cfg).into_iter().map(|(_, m)| m).collect()
}

/// [`script_warnings`] pinned to the file and line of the script's check or notify line.
pub fn script_warnings_located(
    loaded: &config::Loaded,
    file: &std::path::Path,
) -> Vec<config::ConfigWarning> {
    script_problems(&loaded.config)
        .into_iter()
        .map(|(path, message)| loaded.warning_at(file, &path, message))
        .collect()
}

/// Each script that cannot run: the field path it was configured at, and why.
fn script_problems(cfg: &Config) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if let Ok(specs) = check_specs(cfg) {
        for (i, spec) in specs.iter().enumerate() {
            if let CheckKind::Exec { argv, user, group } = &spec.kind {
                if let Err(e) = check::exec::prepare(argv, user.as_deref(), group.as_deref()) {
                    problems.push((
                        format!("check[{i}].command"),
                        format!(
                            "check {}: disabled until its script can run: {e}",
                            spec.name
                        ),
                    ));
                }
            }
        }
    }
    for (path, owner, notify) in notify_owners(cfg) {
        for (field, script) in notify_scripts(notify) {
            if let Err(e) = super::notify::prepare(script, &cfg.global) {
                problems.push((
                    format!("{path}.notify.{field}"),
                    format!(
                        "{owner}: notify script `{}` is skipped until it can run: {e}",
                        script.command
                    ),
                ));
            }
        }
    }
    problems
}

/// Scripts that run as native checks, for `vipd check` to tell.
pub fn native_notes(cfg: &Config) -> Vec<String> {
    check_specs(cfg)
        .unwrap_or_default()
        .iter()
        .filter_map(|spec| match &spec.kind {
            CheckKind::Process {
                replaces: Some(line),
                ..
            } => Some(format!(
                "check {}: `{line}` runs as a native process check (no fork; works for any \
                 script user)",
                spec.name
            )),
            _ => None,
        })
        .collect()
}

/// (field path, description, notify settings) of every instance and sync group.
fn notify_owners(cfg: &Config) -> impl Iterator<Item = (String, String, &config::Notify)> {
    cfg.instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            (
                format!("instance[{i}]"),
                format!("instance {}", inst.name),
                &inst.notify,
            )
        })
        .chain(cfg.sync_groups.iter().enumerate().map(|(i, g)| {
            (
                format!("sync_group[{i}]"),
                format!("sync group {}", g.name),
                &g.notify,
            )
        }))
}

fn notify_scripts(
    n: &config::Notify,
) -> impl Iterator<Item = (&'static str, &config::NotifyScript)> {
    [
        ("master", &n.master),
        ("backup", &n.backup),
        ("fault", &n.fault),
        ("stop", &n.stop),
        ("any", &n.any),
    ]
    .into_iter()
    .filter_map(|(field, script)| script.as_ref().map(|s| (field, s)))
}

/// The sync group an instance belongs to, if any.
fn group_of<'a>(cfg: &'a Config, instance: &str) -> Option<&'a config::SyncGroup> {
    cfg.sync_groups
        .iter()
        .find(|g| g.instances.iter().any(|m| m == instance))
}

/// Checks an instance tracks: its own, then its sync group's (keepalived applies a group's
/// `track_script`/`track_process` to every member; when both name a check, the group's
/// weight wins unless the instance's own is 0).
pub fn tracked_checks(instance: &config::Instance, cfg: &Config) -> Vec<config::TrackCheck> {
    merged(
        &instance.track_checks,
        group_of(cfg, &instance.name).map(|g| g.track_checks.as_slice()),
        cfg,
    )
}

/// File checks an instance tracks, its own and its sync group's.
pub fn tracked_files(instance: &config::Instance, cfg: &Config) -> Vec<config::TrackCheck> {
    merged(
        &instance.track_files,
        group_of(cfg, &instance.name).map(|g| g.track_files.as_slice()),
        cfg,
    )
}

/// Interfaces an instance tracks, its own and its sync group's.
pub fn tracked_interfaces(
    instance: &config::Instance,
    cfg: &Config,
) -> Vec<config::TrackInterface> {
    let mut out = instance.track_interfaces.clone();
    if let Some(group) = group_of(cfg, &instance.name) {
        for t in &group.track_interfaces {
            match out.iter_mut().find(|o| o.name == t.name) {
                Some(own) if own.weight != 0 => *own = t.clone(),
                Some(_) => {}
                None => out.push(t.clone()),
            }
        }
    }
    out
}

/// Every interface some instance tracks, directly or through its sync group.
pub fn tracked_interface_names(cfg: &Config) -> std::collections::BTreeSet<String> {
    cfg.instances
        .iter()
        .flat_map(|i| tracked_interfaces(i, cfg))
        .map(|t| t.name)
        .collect()
}

fn merged(
    own: &[config::TrackCheck],
    group: Option<&[config::TrackCheck]>,
    cfg: &Config,
) -> Vec<config::TrackCheck> {
    let mut out = own.to_vec();
    for t in group.unwrap_or_default() {
        match out.iter_mut().find(|o| o.check == t.check) {
            Some(mine) if effective_weight(mine, cfg) != 0 => *mine = t.clone(),
            Some(_) => {}
            None => out.push(t.clone()),
        }
    }
    out
}

fn effective_weight(t: &config::TrackCheck, cfg: &Config) -> i32 {
    t.weight.unwrap_or_else(|| {
        cfg.checks
            .iter()
            .find(|c| c.name == t.check)
            .map(|c| c.weight)
            .unwrap_or(0)
    })
}

/// One instance's priority from the health of what it tracks: its checks (with the
/// instance's weight and `reverse` override or the check's own), track files and tracked
/// interfaces, its sync group's included. keepalived semantics (see
/// `check::effective_priority`); a tracked interface without a weight faults the instance
/// while down.
pub fn instance_priority(
    instance: &config::Instance,
    cfg: &Config,
    check_health: &dyn Fn(&str) -> Option<Health>,
    links: &BTreeMap<String, bool>,
) -> Priority {
    let default_reverse = |name: &str| {
        cfg.checks
            .iter()
            .find(|c| c.name == name)
            .is_some_and(|c| c.reverse)
    };
    let tracks: Vec<config::TrackCheck> = tracked_checks(instance, cfg)
        .into_iter()
        .chain(tracked_files(instance, cfg))
        .collect();
    let checks = tracks.iter().map(|t| {
        let weight = effective_weight(t, cfg);
        let reverse = t.reverse.unwrap_or_else(|| default_reverse(&t.check));
        check::contribution(
            check_health(&t.check).unwrap_or(Health::Unknown),
            weight,
            reverse,
        )
    });
    let interfaces = tracked_interfaces(instance, cfg);
    let interfaces = interfaces.iter().map(|t| {
        let health = match links.get(&t.name) {
            Some(true) => Health::Up,
            _ => Health::Down,
        };
        check::contribution(health, t.weight, t.reverse)
    });
    let all: Vec<Contribution> = checks.chain(interfaces).collect();
    check::effective_priority(instance.priority, all)
}

/// Sync groups move together: every member of a group gets the priority change (from its
/// base) of the group's least healthy member, so a check that lowers one instance below its
/// peer lowers all of them and the peer takes the whole group. Faults are handled separately
/// (a fault in one member faults all). `priorities[i]` belongs to `cfg.instances[i]`.
pub fn sync_group_priorities(cfg: &Config, priorities: &mut [Priority]) {
    for group in &cfg.sync_groups {
        let members: Vec<usize> = cfg
            .instances
            .iter()
            .enumerate()
            .filter(|(_, inst)| group.instances.contains(&inst.name))
            .map(|(i, _)| i)
            .collect();
        let change = |i: usize| match (priorities.get(i), cfg.instances.get(i)) {
            (Some(Priority::Value(v)), Some(inst)) if inst.priority != 255 => {
                Some(i32::from(*v) - i32::from(inst.priority))
            }
            _ => None,
        };
        let Some(worst) = members.iter().filter_map(|&i| change(i)).min() else {
            continue;
        };
        for &i in &members {
            if let (Some(Priority::Value(v)), Some(inst)) =
                (priorities.get_mut(i), cfg.instances.get(i))
            {
                if inst.priority != 255 {
                    let value = (i32::from(inst.priority) + worst).clamp(1, 254);
                    *v = u8::try_from(value).unwrap_or(1);
                }
            }
        }
    }
}

/// Does the instance track this check (itself or through its sync group)?
pub fn tracks_check(instance: &config::Instance, cfg: &Config, name: &str) -> bool {
    tracked_checks(instance, cfg)
        .iter()
        .chain(tracked_files(instance, cfg).iter())
        .any(|t| t.check == name)
}

/// Does the instance track this interface (itself or through its sync group)?
pub fn tracks_interface(instance: &config::Instance, cfg: &Config, name: &str) -> bool {
    tracked_interfaces(instance, cfg)
        .iter()
        .any(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> Config {
        let text = r#"
vrrp_script chk_up {
  script "/bin/true"
  weight 20
}
vrrp_script chk_down {
  script "/bin/true"
  weight -60
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    192.0.2.100
  }
  track_script {
    chk_up
    chk_down weight -30
  }
  track_interface {
    eth1 weight -10
  }
}
"#;
        config::parse_keepalived(text, std::path::Path::new("test.conf")).unwrap()
    }

    #[test]
    fn weights_add_up_with_instance_overrides() {
        let cfg = config();
        let inst = &cfg.instances[0];
        let mut links = BTreeMap::new();
        links.insert("eth1".to_string(), true);
        let health = |name: &str| match name {
            "chk_up" => Some(Health::Up),
            "chk_down" => Some(Health::Down),
            _ => None,
        };
        // 100 + 20 (up, positive) - 30 (down, override of -60)
        assert_eq!(
            instance_priority(inst, &cfg, &health, &links),
            Priority::Value(90)
        );
        links.insert("eth1".to_string(), false);
        assert_eq!(
            instance_priority(inst, &cfg, &health, &links),
            Priority::Value(80)
        );
        let all_up = |_: &str| Some(Health::Up);
        links.insert("eth1".to_string(), true);
        assert_eq!(
            instance_priority(inst, &cfg, &all_up, &links),
            Priority::Value(120)
        );
    }

    #[test]
    fn sync_group_members_share_the_worst_priority_change() {
        let text = r#"
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 150
  virtual_ipaddress {
    192.0.2.100
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 52
  priority 120
  virtual_ipaddress {
    198.51.100.100
  }
}
vrrp_instance VI_3 {
  interface eth2
  virtual_router_id 53
  priority 100
  virtual_ipaddress {
    203.0.113.100
  }
}
"#;
        let cfg = config::parse_keepalived(text, std::path::Path::new("g.conf")).unwrap();
        // VI_1 lost 60 through a check; VI_2 is healthy; VI_3 is in no group.
        let mut p = vec![
            Priority::Value(90),
            Priority::Value(120),
            Priority::Value(80),
        ];
        sync_group_priorities(&cfg, &mut p);
        assert_eq!(
            p,
            vec![
                Priority::Value(90),
                Priority::Value(60),
                Priority::Value(80)
            ]
        );
        // A faulted member leaves the others' priorities alone (the fault spreads instead).
        let mut p = vec![Priority::Fault, Priority::Value(130), Priority::Value(100)];
        sync_group_priorities(&cfg, &mut p);
        assert_eq!(
            p,
            vec![Priority::Fault, Priority::Value(130), Priority::Value(100)]
        );
    }

    #[test]
    fn specs_take_the_interval_as_default_timeout() {
        let cfg = config();
        let specs = check_specs(&cfg).unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].interval, Duration::from_secs(1));
        assert_eq!(specs[0].timeout, specs[0].interval);
        assert!(tracks_check(&cfg.instances[0], &cfg, "chk_down"));
        assert!(tracks_interface(&cfg.instances[0], &cfg, "eth1"));
        assert!(!tracks_interface(&cfg.instances[0], &cfg, "eth0"));
    }
}
