//! `vrrp_instance`, and what keepalived corrects when it completes one.

use super::*;

use std::collections::HashSet;

impl Reader<'_> {
    pub(super) fn instance(&mut self, st: &Statement) {
        let Some((name, block, index)) = self.named_block_once(st, "instance", |cfg| {
            cfg.instances.iter().map(|i| i.name.as_str()).collect()
        }) else {
            return;
        };
        let at = format!("instance[{index}]");
        let mut inst = Instance::new(&name, "", 0);
        let mut priority = None;
        let mut has_vrid = false;
        let mut bad_vrid: Option<(Loc, String)> = None;
        let mut has_interface = false;
        let mut vmac_xmit_base = None;
        let mut vmac_mac: Option<(String, Loc)> = None;
        let mut vmac_at = None;
        // Where a unicast keyword was written: keepalived warns when there is no peer.
        let mut unicast_keyword: Option<(Loc, &str)> = None;
        let mut unicast_ttl_at = None;
        let mut ipvlan_at = None;
        let errors_before = self.errors.len();
        for item in block {
            let loc = item.loc;
            if self.notify(item, &mut inst.notify, &at) {
                continue;
            }
            let lists = Tracking {
                checks: &mut inst.track_checks,
                files: &mut inst.track_files,
                interfaces: &mut inst.track_interfaces,
            };
            if let Some(field) = self.tracking(item, false, index, &at, lists) {
                self.note(format!("{at}.{field}"), loc);
                continue;
            }
            let field = match item.keyword() {
                "state" => {
                    // keepalived 2.2.7 compares the word exactly: `master` is "unknown".
                    match self.arg(item) {
                        Some("MASTER") => inst.initial_state = InitialState::Master,
                        Some("BACKUP") => inst.initial_state = InitialState::Backup,
                        Some(other) => {
                            self.warn(
                                loc,
                                format!(
                                    "`state`: `{other}` is not MASTER or BACKUP: BACKUP is \
                                     used, as keepalived uses it"
                                ),
                            );
                            inst.initial_state = InitialState::Backup;
                        }
                        None => {}
                    }
                    "initial_state"
                }
                "interface" => {
                    match self.arg(item) {
                        // keepalived 2.2.7: "Interface name '...' too long - ignoring"; the
                        // instance is then without interface (no such link can ever exist).
                        Some(v) if v.len() > crate::config::vmac::MAX_INTERFACE_NAME => {
                            self.warn(
                                loc,
                                format!(
                                    "`interface`: `{v}` is longer than {} bytes (Linux limit): \
                                     the line is ignored, as keepalived ignores it",
                                    crate::config::vmac::MAX_INTERFACE_NAME
                                ),
                            );
                        }
                        Some(v) => {
                            inst.interface = v.to_string();
                            has_interface = true;
                        }
                        None => {}
                    }
                    "interface"
                }
                "virtual_router_id" => {
                    // keepalived ignores an invalid id, and refuses the instance if it is
                    // left without one: the error then names this line.
                    if let Some(text) = self.arg(item) {
                        match text.parse::<u8>() {
                            Ok(v) if v >= 1 => {
                                inst.vrid = v;
                                has_vrid = true;
                            }
                            _ => bad_vrid = Some((loc, text.to_string())),
                        }
                    }
                    "vrid"
                }
                "priority" => {
                    // keepalived: an invalid priority is 100 ("Using default 100"), also
                    // with `state MASTER`.
                    if let Some(text) = self.arg(item) {
                        priority = match text.parse::<u8>() {
                            Ok(p) if p >= 1 => Some(p),
                            _ => {
                                self.warn(
                                    loc,
                                    format!(
                                        "`priority`: `{text}` is not a number in 1..=255: 100 \
                                         is used, as keepalived uses it"
                                    ),
                                );
                                Some(100)
                            }
                        };
                    }
                    "priority"
                }
                "advert_int" => {
                    // keepalived reads 0.01..=255 and ignores anything else.
                    let (min, max) = (Duration::from_millis(10), Duration::from_secs(255));
                    if let Some(v) = self.seconds_in(item, min, max) {
                        inst.advert_interval = v;
                    }
                    "advert_interval"
                }
                "version" => {
                    inst.version = self.number(item, 2u8, 3);
                    "version"
                }
                "nopreempt" => {
                    if self.flag(item) {
                        inst.preempt = false;
                    }
                    "preempt"
                }
                "preempt" => {
                    if self.flag(item) {
                        inst.preempt = true;
                    }
                    "preempt"
                }
                "preempt_delay" => {
                    // keepalived: "Preempt_delay not valid! must be between 0-1000".
                    let max = Duration::from_secs(1000);
                    if let Some(v) = self.seconds_in(item, Duration::ZERO, max) {
                        inst.preempt_delay = v;
                    }
                    "preempt_delay"
                }
                "authentication" => {
                    self.authentication(item, &mut inst);
                    "auth_pass"
                }
                "virtual_ipaddress" => {
                    self.vips(item, &mut inst, &at);
                    "vips"
                }
                "virtual_ipaddress_excluded" => {
                    self.excluded_vips(item, &mut inst, &at);
                    "excluded_vips"
                }
                "virtual_routes" => {
                    let routes = self.routes(item, &format!("{at}.routes"));
                    inst.routes.extend(routes);
                    "routes"
                }
                "virtual_rules" => {
                    let rules = self.rules(item, &format!("{at}.rules"));
                    inst.rules.extend(rules);
                    "rules"
                }
                "unicast_src_ip" | "mcast_src_ip" => {
                    if item.keyword() == "unicast_src_ip" {
                        unicast_keyword.get_or_insert((loc, "unicast_src_ip"));
                    }
                    if let Some(text) = self.arg(item) {
                        inst.source_address = self.unicast_address(loc, text);
                        // keepalived 2.2.7 writes such an address into its adverts' IP header
                        // as given; the receiving kernels drop them (a martian source), and a
                        // socket refuses to send from it. vipd sends from the interface's own
                        // address instead.
                        if let Some(source) = inst.source_address.filter(|a| {
                            a.is_multicast()
                                || a.is_unspecified()
                                || *a == IpAddr::V4(std::net::Ipv4Addr::BROADCAST)
                        }) {
                            self.warn(
                                loc,
                                format!(
                                    "`{}` {source} is not a unicast address: ignored, adverts \
                                     leave from the interface's own address (keepalived 2.2.7 \
                                     sends them from {source}, which receivers drop)",
                                    item.keyword()
                                ),
                            );
                            inst.source_address = None;
                        }
                    }
                    "source_address"
                }
                "unicast_peer" => {
                    self.unicast_peers(item, &mut inst, &at);
                    "unicast_peers"
                }
                // vipd checks the source of unicast adverts by default; the keyword says so.
                "check_unicast_src" => {
                    unicast_keyword.get_or_insert((loc, "check_unicast_src"));
                    if self.flag(item) {
                        inst.check_unicast_src = true;
                    }
                    "check_unicast_src"
                }
                "unicast_ttl" => {
                    unicast_ttl_at = Some(loc);
                    inst.unicast_ttl = self.strict_number(item, 1u8, 255);
                    "unicast_ttl"
                }
                "garp_master_delay" => {
                    inst.garp.master_delay = self.number(item, 0u64, 4294).map(Duration::from_secs);
                    "garp.master_delay"
                }
                "garp_master_repeat" => {
                    inst.garp.master_repeat = self.repeat(item);
                    "garp.master_repeat"
                }
                "garp_master_refresh" => {
                    inst.garp.master_refresh = self.refresh_seconds(item).map(Duration::from_secs);
                    "garp.master_refresh"
                }
                "garp_master_refresh_repeat" => {
                    inst.garp.master_refresh_repeat = self.number(item, 1u32, 10_000);
                    "garp.master_refresh_repeat"
                }
                "down_timer_adverts" => {
                    inst.down_timer_adverts = self.number(item, 1u8, 100);
                    "down_timer_adverts"
                }
                "unicast_fault_no_peer" => {
                    if self.flag(item) {
                        inst.unicast_fault_no_peer = true;
                    }
                    "unicast_fault_no_peer"
                }
                "mcast_dst_ip" => {
                    if let Some(text) = self.arg(item) {
                        match text.parse::<IpAddr>() {
                            Ok(group) if group.is_multicast() => inst.mcast_group = Some(group),
                            _ => self.ignored_value(item, text, "is not a multicast address"),
                        }
                    }
                    "mcast_group"
                }
                "garp_lower_prio_repeat" => {
                    inst.garp.lower_prio_repeat = self.number(item, 0u32, 10_000);
                    "garp.lower_prio_repeat"
                }
                "garp_lower_prio_delay" => {
                    inst.garp.lower_prio_delay =
                        self.number(item, 0u64, 4294).map(Duration::from_secs);
                    "garp.lower_prio_delay"
                }
                "lower_prio_no_advert" => {
                    inst.lower_prio_no_advert = self.switch(item);
                    "lower_prio_no_advert"
                }
                "higher_prio_send_advert" => {
                    inst.higher_prio_send_advert = self.switch(item);
                    "higher_prio_send_advert"
                }
                "use_vmac" => {
                    vmac_mac = self.use_vmac(item, &mut inst).map(|text| (text, loc));
                    vmac_at = Some(loc);
                    "vmac"
                }
                "vmac_xmit_base" => {
                    if self.flag(item) {
                        vmac_xmit_base = Some(loc);
                    }
                    "vmac.xmit_base"
                }
                "use_vmac_addr" => {
                    if self.flag(item) {
                        inst.vmac_addr = true;
                    }
                    "vmac_addr"
                }
                "use_ipvlan" => {
                    if inst.ipvlan.is_some() {
                        self.error(
                            loc,
                            "`use_ipvlan` given twice (keepalived refuses that too)",
                        );
                    } else {
                        ipvlan_at = Some(loc);
                        inst.ipvlan = self.use_ipvlan(item);
                    }
                    "ipvlan"
                }
                "dont_track_primary" => {
                    if self.flag(item) {
                        inst.dont_track_primary = true;
                    }
                    "dont_track_primary"
                }
                "promote_secondaries" => {
                    if self.flag(item) {
                        inst.promote_secondaries = true;
                    }
                    "promote_secondaries"
                }
                "track_src_ip" => {
                    if self.flag(item) {
                        inst.track_source_address = true;
                    }
                    "track_src_ip"
                }
                // VIPs are ordinary addresses in vipd: traffic to them is accepted.
                "accept" => {
                    self.flag(item);
                    continue;
                }
                "no_accept" => {
                    if self.flag(item) {
                        self.warn(
                            loc,
                            "`no_accept`: vipd adds no firewall rules, so the VIPs accept \
                             traffic as with `accept` (keepalived would drop it unless the \
                             priority is 255); filter it with nftables if you rely on that",
                        );
                    }
                    continue;
                }
                // Ignored: vipd checks the address list of every advert (keepalived skips
                // it only for further adverts of the master it already follows).
                "skip_check_adv_addr" => {
                    self.switch(item);
                    continue;
                }
                "strict_mode" => {
                    if let Some(b) = self.switch(item) {
                        inst.strict = Some(b);
                    }
                    "strict"
                }
                _ => {
                    self.other(Block::Instance, item);
                    continue;
                }
            };
            self.note(format!("{at}.{field}"), loc);
        }
        if self.errors.len() > errors_before {
            return;
        }
        if inst.unicast_peers.is_empty() {
            if let Some((loc, keyword)) = unicast_keyword {
                self.warn(
                    loc,
                    format!(
                        "`{keyword}` without any unicast_peer: the instance sends multicast \
                         adverts, as keepalived does (\"A unicast keyword has been specified \
                         without any unicast peers. Defaulting to multicast\")"
                    ),
                );
            }
            if let (Some(loc), Some(_)) = (unicast_ttl_at, inst.unicast_ttl) {
                inst.unicast_ttl = None;
                self.warn(
                    loc,
                    "`unicast_ttl` without any unicast_peer is ignored, as keepalived ignores it \
                     (\"Cannot use unicast_ttl without unicast peers - resetting\")",
                );
            }
        }
        if let (Some(loc), Some(ipvlan)) = (ipvlan_at, inst.ipvlan.as_mut()) {
            if !ipvlan.interface.is_empty() && ipvlan.interface == inst.interface {
                // keepalived 2.2.7: "interface X already exists and is not an l2 ipvlan;
                // ignoring ipvlan if_name".
                let message = format!(
                    "`use_ipvlan`: `{}` is the instance's own interface: the name is ignored \
                     and the ipvlan gets its default name, as in keepalived",
                    ipvlan.interface
                );
                ipvlan.interface.clear();
                self.warn(loc, message);
            }
        }
        if let (Some(loc), Some(vmac)) = (vmac_at, inst.vmac.as_mut()) {
            if !vmac.interface.is_empty() && vmac.interface == inst.interface {
                // keepalived 2.2.7: "interface X already exists and is not a private
                // macvlan; ignoring vmac if_name".
                let message = format!(
                    "`use_vmac`: `{}` is the instance's own interface: the name is ignored and \
                     the VMAC gets its default name, as in keepalived",
                    vmac.interface
                );
                vmac.interface.clear();
                self.warn(loc, message);
            }
        }
        if let (Some((text, loc)), Some(vmac)) = (vmac_mac, inst.vmac.as_mut()) {
            match crate::config::MacAddr::parse_with_vrid(&text, inst.vrid) {
                Ok(mac) => vmac.mac = Some(mac),
                Err(e) => {
                    self.error(loc, format!("`use_vmac`: {e}"));
                    return;
                }
            }
        }
        if let (Some(loc), Some(_)) = (ipvlan_at, &inst.vmac) {
            // keepalived 2.2.7 sets up the VMAC and never the ipvlan then.
            self.warn(
                loc,
                "`use_ipvlan` has no effect with `use_vmac` (keepalived uses the VMAC too)",
            );
            inst.ipvlan = None;
        }
        if let Some(loc) = vmac_xmit_base {
            match inst.vmac.as_mut() {
                Some(vmac) => vmac.xmit_base = true,
                None => self.warn(loc, "`vmac_xmit_base` has no effect without `use_vmac`"),
            }
        }
        if !has_interface {
            // Decided at the end: `default_interface` may come later in the file.
            self.without_interface
                .push((self.cfg.instances.len(), st.loc));
        }
        match (has_vrid, bad_vrid) {
            (true, None) => {}
            (true, Some((loc, text))) => self.warn(
                loc,
                format!(
                    "`virtual_router_id`: `{text}` is not a number in 1..=255: the line is \
                     ignored, as keepalived ignores it"
                ),
            ),
            (false, Some((loc, text))) => {
                self.error(
                    loc,
                    format!("`virtual_router_id`: `{text}` is not a number in 1..=255"),
                );
                return;
            }
            (false, None) => {
                self.error(
                    st.loc,
                    format!("vrrp_instance `{name}` has no `virtual_router_id`"),
                );
                return;
            }
        }
        inst.priority = match (priority, inst.initial_state) {
            (Some(p), _) => p,
            // keepalived: `state MASTER` without a priority means address owner.
            (None, InitialState::Master) => 255,
            (None, InitialState::Backup) => 100,
        };
        self.cfg.instances.push(inst);
    }

    /// `use_vmac [NAME] [MAC]`: a word that reads as a MAC (five octets take the VRID as the
    /// sixth) is the MAC, the other the interface name. The VRID may come later in the block,
    /// so a five-octet MAC is completed when the block is done.
    pub(super) fn use_vmac(&mut self, st: &Statement, inst: &mut Instance) -> Option<String> {
        if !self.no_block(st) {
            return None;
        }
        let mut vmac = crate::config::Vmac::default();
        let mut mac = None;
        for word in texts(st.args()) {
            if crate::config::vmac::looks_like_mac(word) && mac.is_none() {
                mac = Some(word.to_string());
            } else if vmac.interface.is_empty() {
                match crate::config::vmac::check_interface_name(word) {
                    Ok(()) => vmac.interface = word.to_string(),
                    // keepalived 2.2.7 keeps the VMAC under its default name.
                    Err(why) => self.warn(
                        st.loc,
                        format!(
                            "`use_vmac`: interface name `{word}` {why}: ignored, the VMAC gets \
                             its default name, as in keepalived (\"too long or invalid \
                             characters - ignoring\")"
                        ),
                    ),
                }
            } else {
                // keepalived: "VMAC interface name already specified".
                self.warn(
                    st.loc,
                    format!(
                        "`use_vmac`: `{word}` after the name is ignored, as keepalived ignores it \
                         (\"VMAC interface name already specified\")"
                    ),
                );
            }
        }
        inst.vmac = Some(vmac);
        mac
    }

    /// `use_ipvlan [NAME] [ADDRESS[/PREFIX]] [bridge|private|vepa]`, in any order, read as
    /// keepalived 2.2.7 reads it: a second name, address or type is ignored with a warning
    /// (keepalived: "... already specified - ignoring").
    pub(super) fn use_ipvlan(&mut self, st: &Statement) -> Option<crate::config::Ipvlan> {
        if !self.no_block(st) {
            return None;
        }
        let mut ipvlan = crate::config::Ipvlan::default();
        let mut mode = None;
        for word in texts(st.args()) {
            let ignored = if let Some(m) = crate::config::IpvlanMode::parse(word) {
                let repeated = mode.is_some();
                mode.get_or_insert(m);
                repeated
            } else if let Ok(address) = word.parse::<crate::config::IfAddress>() {
                let repeated = ipvlan.address.is_some();
                ipvlan.address.get_or_insert(address);
                repeated
            } else if ipvlan.interface.is_empty() {
                match crate::config::vmac::check_interface_name(word) {
                    Ok(()) => ipvlan.interface = word.to_string(),
                    Err(why) => self.warn(
                        st.loc,
                        format!(
                            "`use_ipvlan`: interface name `{word}` {why}: ignored, the ipvlan \
                             gets its default name, as in keepalived"
                        ),
                    ),
                }
                false
            } else {
                true
            };
            if ignored {
                self.warn(
                    st.loc,
                    format!(
                        "`use_ipvlan`: `{word}` repeats a name, address or type: ignored, as \
                         keepalived 2.2.7 ignores it (the first one counts)"
                    ),
                );
            }
        }
        ipvlan.mode = mode.unwrap_or_default();
        Some(ipvlan)
    }

    pub(super) fn authentication(&mut self, st: &Statement, inst: &mut Instance) {
        let Some(block) = self.block(st) else { return };
        let mut kind = None;
        let mut pass = None;
        for item in block {
            match item.keyword() {
                "auth_type" => kind = self.arg(item).map(|k| (k.to_string(), item.loc)),
                "auth_pass" => pass = self.arg(item).map(str::to_string),
                _ => self.other(Block::Authentication, item),
            }
        }
        // keepalived 2.2.7 sends no authentication unless the block names PASS or AH and
        // gives a password; the other shapes are logged and the block ignored. vipd reads
        // them the same way, so the routers of a segment keep agreeing.
        match kind {
            Some((k, _)) if k == "PASS" || k == "AH" => match pass {
                Some(p) if !p.is_empty() => {
                    inst.auth_pass = Some(p);
                    if k == "AH" {
                        inst.auth_type = crate::config::AuthType::Ah;
                    }
                }
                _ => self.warn(
                    st.loc,
                    format!(
                        "`auth_type {k}` without a password: no authentication is used, as in \
                         keepalived (\"Authentication specified but no password given\")"
                    ),
                ),
            },
            Some((k, loc)) => self.warn(
                loc,
                format!(
                    "`auth_type`: `{k}` is not PASS or AH (they are case-sensitive): no \
                     authentication is used, as in keepalived (\"unknown authentication type\")"
                ),
            ),
            None if pass.is_some() => self.warn(
                st.loc,
                "`authentication` without `auth_type`: the password is not used (no \
                 authentication), as in keepalived",
            ),
            None => {}
        }
    }

    /// What keepalived 2.2.7 corrects when it completes an instance, with a warning each:
    /// a VRRPv2 interval becomes whole seconds ("must be an integer. rounding"), a VRRPv3
    /// one at most 40.95 s; in strict mode the initial state follows the priority (MASTER
    /// only for 255); `nopreempt` and `preempt_delay` are cleared with `state MASTER`,
    /// `nopreempt` with priority 255, `preempt_delay` in strict mode or with `nopreempt`;
    /// a `track_interface` entry naming the instance's own interface is dropped.
    pub(super) fn instance_rules(&mut self) {
        let global = self.cfg.global.clone();
        for i in 0..self.cfg.instances.len() {
            let at = format!("instance[{i}]");
            let loc_of = |reader: &Self, field: &str| {
                reader
                    .locations
                    .get(&format!("{at}.{field}"))
                    .or_else(|| reader.locations.get(&at))
                    .copied()
            };
            let mut notes: Vec<(Option<Loc>, String)> = Vec::new();
            let inst = &mut self.cfg.instances[i];
            let name = inst.name.clone();
            // keepalived: "src address ... MUST be of the same family !!! Skipping...".
            let family_of_vips = inst.vips.first().map(|v| v.address.is_ipv6());
            if let (Some(v6), Some(source)) = (family_of_vips, inst.source_address) {
                if source.is_ipv6() != v6 {
                    inst.source_address = None;
                    notes.push((
                        loc_of(self, "source_address"),
                        format!(
                            "instance `{name}`: unicast_src_ip {source} is not of the family \
                             of the virtual addresses: skipped, as keepalived skips it"
                        ),
                    ));
                }
            }
            let inst = &mut self.cfg.instances[i];
            // keepalived: "vrrp_version 2 conflicts with ... ignoring": IPv6 runs VRRPv3.
            if inst.version == Some(2) && inst.is_ipv6() {
                inst.version = None;
                notes.push((
                    loc_of(self, "version"),
                    format!(
                        "instance `{name}`: IPv6 needs VRRPv3: `version 2` is ignored, as \
                         keepalived ignores it"
                    ),
                ));
            }
            // keepalived: "Ignoring track_interface X since own interface" (the instance
            // follows its own interface anyway, `dont_track_primary` or not).
            let inst = &mut self.cfg.instances[i];
            if inst
                .track_interfaces
                .iter()
                .any(|t| t.name == inst.interface)
            {
                let own = inst.interface.clone();
                let old = std::mem::take(&mut inst.track_interfaces);
                let field = format!("{at}.track_interfaces");
                let (kept, dropped) = self.retain_located(&field, old, |_, _, track, _| {
                    (track.name == own).then(|| {
                        format!(
                            "instance `{name}`: track_interface {own} is the instance's own \
                             interface: ignored, as keepalived ignores it"
                        )
                    })
                });
                notes.extend(dropped);
                self.cfg.instances[i].track_interfaces = kept;
            }
            // An excluded address that is also a VIP or excluded twice (Chef's keepalived
            // cookbook renders both lists from one): keepalived 2.2.7 runs the file silently and
            // adds the address once; vipd drops the later excluded line with a warning (excluded
            // addresses are not in adverts, so the wire is the same). A VIP listed twice in
            // `virtual_ipaddress` stays an error: keepalived counts it twice in its adverts.
            let inst = &mut self.cfg.instances[i];
            let own = inst.interface.clone();
            let key = |vip: &crate::config::Vip| {
                (
                    vip.address,
                    vip.interface.clone().unwrap_or_else(|| own.clone()),
                )
            };
            let mut seen: HashSet<_> = inst.vips.iter().map(key).collect();
            if inst.excluded_vips.iter().any(|v| seen.contains(&key(v)))
                || inst.excluded_vips.len()
                    != inst
                        .excluded_vips
                        .iter()
                        .map(key)
                        .collect::<HashSet<_>>()
                        .len()
            {
                let list = std::mem::take(&mut inst.excluded_vips);
                let field = format!("{at}.excluded_vips");
                let (kept, dropped) = self.retain_located(&field, list, |_, _, vip, _| {
                    (!seen.insert(key(vip))).then(|| {
                        format!(
                            "instance `{name}`: excluded address {} is listed twice (or is also \
                             a VIP): this line is ignored (keepalived 2.2.7 adds the address \
                             once, and sends its gratuitous ARPs/NAs once for each line)",
                            vip.address
                        )
                    })
                });
                notes.extend(dropped);
                self.cfg.instances[i].excluded_vips = kept;
            }
            let inst = &mut self.cfg.instances[i];
            let interval = inst.advert_interval;
            if inst.version(&global) == 2 && interval.subsec_nanos() != 0 {
                let secs = ((interval.as_millis() + 500) / 1000).max(1);
                let secs = u64::try_from(secs).unwrap_or(255).min(255);
                inst.advert_interval = Duration::from_secs(secs);
                notes.push((
                    loc_of(self, "advert_interval"),
                    format!(
                        "instance `{name}`: VRRPv2 advert_int {} is rounded to {secs}s, as \
                         keepalived rounds it",
                        duration::format(interval)
                    ),
                ));
            } else if inst.version(&global) == 3 && interval > Duration::from_millis(40_950) {
                inst.advert_interval = Duration::from_millis(40_950);
                notes.push((
                    loc_of(self, "advert_interval"),
                    format!(
                        "instance `{name}`: VRRPv3 advert_int {} is above 40.95s: 40.95s is \
                         used, as keepalived uses it",
                        duration::format(interval)
                    ),
                ));
            }
            // keepalived: "State MASTER must match being address owner": in strict mode the
            // initial state follows the priority (255 MASTER, else BACKUP), before the
            // nopreempt rules below, so `state MASTER` + `nopreempt` keeps nopreempt there.
            let inst = &mut self.cfg.instances[i];
            let owner = inst.priority == 255;
            if inst.strict(&global) && (inst.initial_state == InitialState::Master) != owner {
                let (was, now) = if owner {
                    inst.initial_state = InitialState::Master;
                    ("BACKUP", "MASTER")
                } else {
                    inst.initial_state = InitialState::Backup;
                    ("MASTER", "BACKUP")
                };
                notes.push((
                    loc_of(self, "initial_state"),
                    format!(
                        "instance `{name}`: in strict mode state MASTER must match being the \
                         address owner (priority 255): state {was} becomes {now}, as \
                         keepalived makes it"
                    ),
                ));
            }
            // keepalived 2.2.7: "Initial state master is incompatible with AH authentication -
            // clearing": a non-owner using AH starts as BACKUP (its first adverts would
            // otherwise race a running master's), before the nopreempt rules below, so its
            // nopreempt holds. Strict mode and VRRPv3 use no authentication at all.
            let inst = &mut self.cfg.instances[i];
            if inst.initial_state == InitialState::Master
                && inst.priority != 255
                && inst.auth_type == crate::config::AuthType::Ah
                && inst.auth_pass.is_some()
                && !inst.strict(&global)
                && inst.version(&global) == 2
            {
                inst.initial_state = InitialState::Backup;
                notes.push((
                    loc_of(self, "initial_state"),
                    format!(
                        "instance `{name}`: state MASTER does not work with AH \
                         authentication: it starts as BACKUP, as keepalived 2.2.7 makes it \
                         (\"Initial state master is incompatible with AH authentication\")"
                    ),
                ));
            }
            let inst = &mut self.cfg.instances[i];
            if !inst.preempt && inst.priority == 255 {
                inst.preempt = true;
                notes.push((
                    None,
                    format!(
                        "instance `{name}`: nopreempt does not apply to priority 255 (the \
                         address owner always takes over); cleared, as keepalived clears it"
                    ),
                ));
            }
            if inst.initial_state == InitialState::Master {
                if !inst.preempt {
                    inst.preempt = true;
                    notes.push((
                        None,
                        format!(
                            "instance `{name}`: nopreempt does not work with state MASTER: \
                             cleared, as keepalived clears it (use state BACKUP on every \
                             router for nopreempt)"
                        ),
                    ));
                }
                if !inst.preempt_delay.is_zero() {
                    inst.preempt_delay = Duration::ZERO;
                    notes.push((
                        None,
                        format!(
                            "instance `{name}`: preempt_delay does not work with state \
                             MASTER: cleared, as keepalived clears it"
                        ),
                    ));
                }
            }
            if !inst.preempt_delay.is_zero() && (inst.strict(&global) || !inst.preempt) {
                inst.preempt_delay = Duration::ZERO;
                notes.push((
                    None,
                    format!(
                        "instance `{name}`: preempt_delay does not apply {}: cleared, as \
                         keepalived clears it",
                        if inst.preempt {
                            "in strict mode"
                        } else {
                            "with nopreempt"
                        }
                    ),
                ));
            }
            let preempt_loc = loc_of(self, "preempt");
            let delay_loc = loc_of(self, "preempt_delay");
            for (loc, message) in notes {
                let loc = loc.or(if message.contains("preempt_delay") {
                    delay_loc
                } else {
                    preempt_loc
                });
                self.warn_at(loc, message);
            }
        }
    }
}
