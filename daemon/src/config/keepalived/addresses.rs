//! Address lists: virtual and static addresses, unicast peers, routes and rules.

use super::*;

impl Reader<'_> {
    /// One line of `virtual_ipaddress` or `virtual_ipaddress_excluded`, read as keepalived
    /// reads it; options vipd does not apply are warned about.
    pub(super) fn vip(&mut self, item: &Statement) -> Option<Vip> {
        if item.block.is_some() {
            self.error(item.loc, "a virtual address takes no { } block");
            return None;
        }
        let words = texts(&item.words);
        let (vip, ignored) = match Vip::from_keepalived_words(&words) {
            Ok(read) => read,
            // keepalived 2.2.7 skips an address it cannot read ("VRRP parsed invalid IP",
            // "invalid broadcast ... skipping VIP") and runs the instance without it.
            Err(e) => {
                self.warn(
                    item.loc,
                    format!("{e}: the address is skipped, as keepalived skips it"),
                );
                return None;
            }
        };
        for ignored in ignored {
            let message = match ignored {
                Ignored::NotApplied(option) => format!(
                    "virtual address {}: option `{option}` is not applied by vipd (it adds the \
                     address with dev, brd, scope and label only; IPv6 ones without duplicate \
                     address detection)",
                    vip.address
                ),
                Ignored::LeadingNumber(text) => format!(
                    "virtual address {}: `{text}` is read as /{}, as keepalived reads it \
                     (\"WARNING - invalid number\"): remove what follows the number",
                    vip.address, vip.prefix_len
                ),
                Ignored::Unknown(words) => {
                    let hint = if words.parse::<IpAddr>().is_ok() {
                        " (one address per line)"
                    } else {
                        ""
                    };
                    format!(
                        "virtual address {}: `{words}` is ignored, as keepalived ignores \
                         it{hint}",
                        vip.address
                    )
                }
            };
            self.warn(item.loc, message);
        }
        Some(vip)
    }

    pub(super) fn vips(&mut self, st: &Statement, inst: &mut Instance, at: &str) {
        let Some(block) = self.block(st) else { return };
        for item in block {
            let Some(vip) = self.vip(item) else {
                continue;
            };
            let family = |a: &IpAddr| if a.is_ipv6() { "IPv6" } else { "IPv4" };
            match inst.vips.first() {
                Some(first) if first.address.is_ipv6() != vip.address.is_ipv6() => {
                    self.warn(
                        item.loc,
                        format!(
                            "{vip} is {} but the instance is {} (its first address): keepalived \
                             2.2.7 ignores it; vipd adds and removes it with the VIPs without \
                             listing it in adverts, as virtual_ipaddress_excluded (move it \
                             there to say so)",
                            family(&vip.address),
                            family(&first.address)
                        ),
                    );
                    let index = inst.excluded_vips.len();
                    self.note(format!("{at}.excluded_vips[{index}]"), item.loc);
                    inst.excluded_vips.push(vip);
                }
                _ => {
                    self.note(format!("{at}.vips[{}]", inst.vips.len()), item.loc);
                    inst.vips.push(vip);
                }
            }
        }
    }

    /// `virtual_ipaddress_excluded`: written like `virtual_ipaddress`, either family.
    pub(super) fn excluded_vips(&mut self, st: &Statement, inst: &mut Instance, at: &str) {
        let Some(block) = self.block(st) else { return };
        for item in block {
            if let Some(vip) = self.vip(item) {
                let index = inst.excluded_vips.len();
                self.note(format!("{at}.excluded_vips[{index}]"), item.loc);
                inst.excluded_vips.push(vip);
            }
        }
    }

    pub(super) fn unicast_peers(&mut self, st: &Statement, inst: &mut Instance, at: &str) {
        let Some(block) = self.block(st) else { return };
        for item in block {
            // `ADDRESS [min_ttl N] [max_ttl N]`, as keepalived 2.2.7 reads it.
            let mut words = item.words.iter();
            let Some(first) = words.next() else { continue };
            let Some(address) = self.unicast_address(item.loc, &first.text) else {
                continue;
            };
            self.note(
                format!("{at}.unicast_peers[{}]", inst.unicast_peers.len()),
                item.loc,
            );
            inst.unicast_peers.push(address);
            let mut range: Option<PeerTtl> = None;
            while let Some(word) = words.next() {
                let option = word.text.as_str();
                // keepalived 2.2.7 logs an unknown option or an unusable TTL and keeps
                // the peer; so does vipd, with a warning.
                if !matches!(option, "min_ttl" | "max_ttl") {
                    self.warn(
                        item.loc,
                        format!(
                            "unicast peer {address}: unknown option `{option}` (min_ttl, \
                             max_ttl): ignored, as keepalived ignores it"
                        ),
                    );
                    break;
                }
                let value = words.next().map(|w| w.text.as_str());
                let Some(ttl) = value.and_then(|v| v.parse::<u8>().ok()) else {
                    self.warn(
                        item.loc,
                        format!(
                            "unicast peer {address}: `{option}` needs a TTL 0..=255, not `{}`: \
                             ignored, as keepalived ignores it",
                            value.unwrap_or("")
                        ),
                    );
                    break;
                };
                let entry = range.get_or_insert(PeerTtl {
                    peer: address,
                    min_ttl: 0,
                    max_ttl: u8::MAX,
                });
                if option == "min_ttl" {
                    entry.min_ttl = ttl;
                } else {
                    entry.max_ttl = ttl;
                }
            }
            if let Some(range) = range {
                if range.min_ttl > range.max_ttl {
                    // keepalived runs such a peer and discards all its adverts ("all
                    // packets will be discarded"), which splits the pair; vipd keeps the
                    // peer and drops the range, and says so.
                    self.warn(
                        item.loc,
                        format!(
                            "unicast peer {address}: min_ttl {} is above max_ttl {}: vipd \
                             ignores the range (keepalived would discard every advert from \
                             this peer)",
                            range.min_ttl, range.max_ttl
                        ),
                    );
                } else {
                    inst.unicast_peer_ttl.push(range);
                }
            }
        }
    }

    /// `static_ipaddress`: written like `virtual_ipaddress`, plus `track_group NAME`.
    pub(super) fn static_addresses(&mut self, st: &Statement) {
        let Some(block) = self.block(st) else { return };
        for item in block {
            let mut shortened = item.clone();
            if let Some(at) = item.words.iter().position(|w| w.text == "track_group") {
                let removed: Vec<Word> = shortened
                    .words
                    .drain(at..(at + 2).min(item.words.len()))
                    .collect();
                let group = removed.get(1).map_or("", |w| w.text.as_str());
                self.warn(
                    item.loc,
                    format!(
                        "`track_group {group}`: vipd does not watch static addresses (an \
                         instance does not go BACKUP when one is deleted)"
                    ),
                );
            }
            let Some(vip) = self.vip(&shortened) else {
                continue;
            };
            let index = self.cfg.statics.addresses.len();
            self.note(format!("static.addresses[{index}]"), item.loc);
            if vip.interface.is_none() {
                self.static_without_dev.push((index, item.loc));
            }
            self.cfg.statics.addresses.push(vip);
        }
    }

    /// Static addresses without `dev` go on `default_interface`, else eth0, as in keepalived.
    pub(super) fn static_address_interfaces(&mut self) {
        let interface = self
            .default_interface
            .clone()
            .unwrap_or_else(|| "eth0".to_string());
        for (index, _) in std::mem::take(&mut self.static_without_dev) {
            if let Some(vip) = self.cfg.statics.addresses.get_mut(index) {
                vip.interface = Some(interface.clone());
            }
        }
    }

    /// Reads the lines of a `virtual_routes`/`static_routes`/`virtual_rules`/`static_rules`
    /// block (`what` is route or rule) with `read` and hands each one vipd can install to
    /// `accept` with its line. A line vipd cannot install as written is skipped with a
    /// warning, as keepalived skips the ones it cannot parse.
    fn route_lines<T>(
        &mut self,
        st: &Statement,
        what: &str,
        read: fn(&[&str]) -> Result<route::Read<T>, String>,
        mut accept: impl FnMut(&mut Self, T, &[String], Loc),
    ) {
        let Some(block) = self.block(st) else { return };
        for item in block {
            if item.block.is_some() {
                self.error(item.loc, format!("a {what} takes no {{ }} block"));
                continue;
            }
            match read(&texts(&item.words)) {
                Ok((value, noted)) => {
                    self.note_tracking(item.loc, &noted, what);
                    accept(self, value, &noted, item.loc);
                }
                Err(e) => self.warn(item.loc, format!("{what} skipped: {e}")),
            }
        }
    }

    /// The routes of a `virtual_routes` / `static_routes` block.
    pub(super) fn routes(&mut self, st: &Statement, at: &str) -> Vec<Route> {
        let mut routes = Vec::new();
        self.route_lines(
            st,
            "route",
            Route::from_keepalived_words,
            |reader, mut route: Route, noted, loc| {
                // keepalived 2.2.7 tracks a route unless `no_track`, and a tracked route is
                // always its own protocol (measured: "Route cannot be tracked if protocol is
                // not RTPROT_KEEPALIVED(18), resetting protocol"), static routes too.
                let tracked = !noted.iter().any(|n| n == "no_track");
                if let Some(protocol) =
                    (route.protocol).filter(|p| tracked && *p != route::PROTOCOL_KEEPALIVED)
                {
                    reader.warn(
                        loc,
                        format!(
                            "route `protocol {protocol}` is reset to keepalived (18), as keepalived \
                             does for a route without `no_track`"
                        ),
                    );
                    route.protocol = None;
                }
                reader.note(format!("{at}[{}]", routes.len()), loc);
                routes.push(route);
            },
        );
        routes
    }

    /// The rules of a `virtual_rules` / `static_rules` block; a rule without a preference
    /// gets keepalived's, with keepalived's warning.
    pub(super) fn rules(&mut self, st: &Statement, at: &str) -> Vec<Rule> {
        let mut rules = Vec::new();
        self.route_lines(
            st,
            "rule",
            Rule::from_keepalived_words,
            |reader, mut rule: Rule, noted, loc| {
                // keepalived 2.2.7 marks a tracked rule `proto keepalived` and sends none for
                // a `no_track` one (measured: the kernel shows it without `proto`).
                if rule.protocol.is_none() && noted.iter().any(|n| n == "no_track") {
                    rule.protocol = Some(0);
                }
                if rule.priority.is_none() {
                    let next = &mut reader.next_rule_priority[usize::from(rule.ipv6)];
                    let priority = *next;
                    *next = next.saturating_sub(1);
                    rule.priority = Some(priority);
                    reader.warn(
                        loc,
                        format!(
                            "rule has no preference: it gets {priority} as in keepalived, which \
                         is probably not what you want (add `preference N`)"
                        ),
                    );
                }
                reader.note(format!("{at}[{}]", rules.len()), loc);
                rules.push(rule);
            },
        );
        rules
    }

    pub(super) fn note_tracking(&mut self, loc: Loc, noted: &[String], what: &str) {
        for option in noted {
            if !option.starts_with("track_group") {
                // Not a tracking option: a note on a value, said as it is.
                if option != "no_track" {
                    self.warn(loc, option.clone());
                }
            } else {
                self.warn(
                    loc,
                    format!(
                        "`{option}`: vipd does not watch this {what} (nothing happens to an \
                         instance when it is deleted)"
                    ),
                );
            }
        }
    }
}
