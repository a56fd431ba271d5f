//! `global_defs` and `garp_group`.

use super::*;

/// keepalived 2.2.7's range for GARP intervals and the start-up delay: up to 2^32 - 1 µs.
const MAX_INTERVAL: Duration = Duration::from_micros(4_294_967_295);
const MICROSECOND: Duration = Duration::from_micros(1);
/// The range of `garp_group`'s intervals: up to 2^31 - 1 µs.
const MAX_GROUP_INTERVAL: Duration = Duration::from_micros(2_147_483_647);

impl Reader<'_> {
    pub(super) fn global(&mut self, st: &Statement) {
        let at = format!("global.{}", st.keyword());
        self.note(at, st.loc);
        match st.keyword() {
            "router_id" => {
                // keepalived: "routerid name missing - ignoring".
                if st.args().is_empty() && st.block.is_none() {
                    self.warn(
                        st.loc,
                        "`router_id` without a name is ignored, as keepalived ignores it",
                    );
                } else if let Some(v) = self.arg(st) {
                    self.cfg.global.router_id = Some(v.to_string());
                }
            }
            "vmac_prefix" => {
                if let Some(v) = self.arg(st) {
                    self.vmac_prefix = Some(v.to_string());
                }
            }
            "vmac_addr_prefix" => {
                if let Some(v) = self.arg(st) {
                    self.vmac_addr_prefix = Some(v.to_string());
                }
            }
            "vrrp_version" => {
                if let Some(v) = self.number(st, 2u8, 3) {
                    self.cfg.global.vrrp_version = v;
                }
            }
            "vrrp_garp_master_delay" => {
                if let Some(v) = self.number(st, 0u64, 4294) {
                    self.cfg.global.garp.master_delay = Duration::from_secs(v);
                }
            }
            "vrrp_garp_master_repeat" => {
                if let Some(v) = self.repeat(st) {
                    self.cfg.global.garp.master_repeat = v;
                }
            }
            "vrrp_garp_master_refresh" => {
                if let Some(v) = self.refresh_seconds(st) {
                    self.cfg.global.garp.master_refresh = (v > 0).then(|| Duration::from_secs(v));
                }
            }
            "vrrp_garp_master_refresh_repeat" => {
                if let Some(v) = self.number(st, 1u32, 10_000) {
                    self.cfg.global.garp.master_refresh_repeat = v;
                }
            }
            "vrrp_garp_interval" => {
                if let Some(v) = self.seconds_in(st, MICROSECOND, MAX_INTERVAL) {
                    self.cfg.global.garp.interval = v;
                }
            }
            "vrrp_gna_interval" => {
                if let Some(v) = self.seconds_in(st, MICROSECOND, MAX_INTERVAL) {
                    self.cfg.global.garp.na_interval = v;
                }
            }
            "vrrp_garp_lower_prio_repeat" => {
                self.note("global.garp.lower_prio_repeat".into(), st.loc);
                if let Some(v) = self.number(st, 0u32, 10_000) {
                    self.cfg.global.garp.lower_prio_repeat = Some(v);
                }
            }
            "vrrp_garp_lower_prio_delay" => {
                if let Some(v) = self.number(st, 0u64, 4294) {
                    self.cfg.global.garp.lower_prio_delay = Some(Duration::from_secs(v));
                }
            }
            "vrrp_min_garp" => {
                if let Some(on) = self.switch(st) {
                    self.min_garp = on;
                }
            }
            "vrrp_lower_prio_no_advert" => {
                if let Some(on) = self.switch(st) {
                    self.cfg.global.lower_prio_no_advert = on;
                }
            }
            "vrrp_higher_prio_send_advert" => {
                if let Some(on) = self.switch(st) {
                    self.cfg.global.higher_prio_send_advert = on;
                }
            }
            "vrrp_down_timer_adverts" => {
                if let Some(v) = self.number(st, 1u8, 100) {
                    self.cfg.global.down_timer_adverts = v;
                }
            }
            "vrrp_mcast_group4" => {
                if let Some(IpAddr::V4(group)) = self.group(st, false) {
                    self.cfg.global.mcast_group4 = Some(group);
                }
            }
            "vrrp_mcast_group6" => {
                if let Some(IpAddr::V6(group)) = self.group(st, true) {
                    self.cfg.global.mcast_group6 = Some(group);
                }
            }
            "script_user" => {
                if self.no_block(st) {
                    match texts(st.args()).as_slice() {
                        [user] => self.cfg.global.script_user = Some(user.to_string()),
                        [user, group] => {
                            self.cfg.global.script_user = Some(user.to_string());
                            self.cfg.global.script_group = Some(group.to_string());
                        }
                        // keepalived logs these and keeps its default script user.
                        _ => self.warn(
                            st.loc,
                            "`script_user` takes a user and optionally a group: the line is \
                             ignored, as keepalived ignores it",
                        ),
                    }
                }
            }
            "enable_script_security" => {
                if self.flag(st) {
                    self.cfg.global.enable_script_security = true;
                }
            }
            "vrrp_strict" => {
                if self.flag(st) {
                    self.cfg.global.strict = true;
                }
            }
            // vipd checks the source of unicast adverts by default; the keyword says so.
            "vrrp_check_unicast_src" => {
                self.flag(st);
            }
            "vrrp_skip_check_adv_addr" => {
                if self.flag(st) {
                    self.cfg.global.skip_check_adv_addr = true;
                }
            }
            "max_auto_priority" => {
                if self.no_block(st) {
                    if st.args().is_empty() {
                        // keepalived: no value means the highest priority.
                        self.cfg.global.max_auto_priority = Some(99);
                    } else if let Some(v) = self.number(st, -1i32, 99) {
                        self.cfg.global.max_auto_priority = Some(v);
                    }
                }
            }
            "default_interface" => {
                if st.args().is_empty() && st.block.is_none() {
                    self.warn(
                        st.loc,
                        "`default_interface` without a name is ignored, as keepalived ignores it",
                    );
                } else if let Some(v) = self.arg(st) {
                    self.default_interface = Some(v.to_string());
                }
            }
            // vipd always waits for interfaces that appear later and follows renumbered
            // ones; keepalived needs this flag for that.
            "dynamic_interfaces" => {
                if let Some(word) = st.args().first() {
                    if word.text != "allow_if_changes" {
                        self.warn(
                            st.loc,
                            format!(
                                "`dynamic_interfaces`: unknown option `{}` is ignored, as \
                                 keepalived ignores it (it knows `allow_if_changes`)",
                                word.text
                            ),
                        );
                    }
                }
            }
            // vipd always checks a file before a reload and keeps the running
            // configuration when it has errors.
            "reload_check_config" => {
                self.no_block(st);
            }
            "vrrp_startup_delay" => {
                let min = Duration::from_millis(1);
                if let Some(v) = self.seconds_in(st, min, MAX_INTERVAL) {
                    self.cfg.global.startup_delay = v;
                }
            }
            "notify_fifo"
            | "vrrp_notify_fifo"
            | "notify_fifo_script"
            | "vrrp_notify_fifo_script"
            | "vrrp_notify_priority_changes"
            | "fifo_write_vrrp_states_on_reload" => self.notify_fifo(st),
            _ => self.other(Block::Global, st),
        }
    }

    /// keepalived resolves `vrrp_min_garp` against the GARP keywords written explicitly.
    pub(super) fn apply_min_garp(&mut self) {
        if !self.min_garp {
            return;
        }
        let written = |key: &str| self.locations.contains_key(&format!("global.{key}"));
        let (repeat, delay, refresh) = (
            written("vrrp_garp_master_repeat"),
            written("vrrp_garp_master_delay"),
            written("vrrp_garp_master_refresh"),
        );
        let garp = &mut self.cfg.global.garp;
        if !repeat {
            garp.master_repeat = 1;
        }
        if !delay {
            garp.master_delay = Duration::ZERO;
        }
        if !refresh {
            garp.master_refresh = None;
        }
    }

    /// Instances without `interface` run on `default_interface` (keepalived 2.2.7 refuses
    /// them, "Unknown interface!").
    pub(super) fn default_interfaces(&mut self) {
        for (index, loc) in std::mem::take(&mut self.without_interface) {
            let Some(inst) = self.cfg.instances.get_mut(index) else {
                continue;
            };
            let name = inst.name.clone();
            match &self.default_interface {
                Some(interface) => {
                    inst.interface = interface.clone();
                    let message = format!(
                        "vrrp_instance `{name}` has no `interface`: vipd runs it on \
                         default_interface {interface} (keepalived 2.2.7 refuses it)"
                    );
                    self.warn(loc, message);
                }
                None => self.error(
                    loc,
                    format!(
                        "vrrp_instance `{name}` has no `interface` (and there is no \
                         default_interface)"
                    ),
                ),
            }
        }
    }

    /// `garp_group { garp_interval S; gna_interval S; interface IF; interfaces { IF ... } }`.
    pub(super) fn garp_group(&mut self, st: &Statement) {
        let Some(block) = self.block(st) else { return };
        let at = format!("garp_group[{}]", self.cfg.garp_groups.len());
        self.note(at.clone(), st.loc);
        let mut group = GarpGroup {
            interfaces: Vec::new(),
            interval: Duration::ZERO,
            na_interval: Duration::ZERO,
        };
        for item in block {
            self.note(format!("{at}.{}", item.keyword()), item.loc);
            match item.keyword() {
                "garp_interval" => {
                    if let Some(v) = self.seconds_in(item, Duration::ZERO, MAX_GROUP_INTERVAL) {
                        group.interval = v;
                    }
                }
                "gna_interval" => {
                    if let Some(v) = self.seconds_in(item, Duration::ZERO, MAX_GROUP_INTERVAL) {
                        group.na_interval = v;
                    }
                }
                "interface" => {
                    if let Some(name) = self.arg(item) {
                        self.garp_group_interface(item.loc, &mut group, name);
                    }
                }
                "interfaces" => {
                    if let Some(names) = self.block(item) {
                        for line in names {
                            for word in &line.words {
                                self.garp_group_interface(line.loc, &mut group, &word.text);
                            }
                        }
                    }
                }
                other => self.warn(
                    item.loc,
                    format!(
                        "unknown keyword `{other}` in garp_group, ignored (keepalived: \
                         \"Unknown keyword\")"
                    ),
                ),
            }
        }
        self.cfg.garp_groups.push(group);
    }

    /// An interface of a `garp_group`; keepalived 2.2.7 takes each interface into one group
    /// only ("garp_group already specified for X - ignoring").
    fn garp_group_interface(&mut self, loc: Loc, group: &mut GarpGroup, name: &str) {
        let taken = group.interfaces.iter().any(|i| i == name)
            || self
                .cfg
                .garp_groups
                .iter()
                .any(|g| g.interfaces.iter().any(|i| i == name));
        if taken {
            self.warn(
                loc,
                format!(
                    "garp_group: interface {name} is already in a garp_group: ignored here, as \
                     keepalived ignores it"
                ),
            );
        } else {
            group.interfaces.push(name.to_string());
        }
    }
}
