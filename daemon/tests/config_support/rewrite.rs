//! A real-world keepalived.conf rewritten into the namespace lab, so that keepalived 2.2.7 and
//! vipd can run it there (`lab_corpus_run`): every distinct address and prefix is mapped
//! consistently into the documentation ranges (the instance's source address onto the lab
//! router's own, unicast peers onto the lab's other routers, everything else onto free
//! addresses), interface names onto the lab's (`eth0`, `eth1`, dummies created by `setup`),
//! scripts and notify commands onto `/bin/true`, notify FIFOs, `lvs_sync_daemon*` and
//! `virtual_server` blocks dropped. The result carries the behaviour fixture header (`# behaviour:`, `# lab:`,
//! `# setup:`), so the behaviour differential takes it as it takes its own fixtures.

#![allow(dead_code)] // each test file uses a part

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The text before a `#` or `!` comment (outside double quotes).
pub fn code(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' | '!' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The file without its `virtual_server`/`virtual_server_group` blocks (brace aware).
pub fn strip_lvs(text: &str) -> String {
    let mut out = String::new();
    let (mut skipping, mut depth, mut opened) = (false, 0i32, false);
    for line in text.split_inclusive('\n') {
        let c = code(line);
        let first = c.split_whitespace().next().unwrap_or("");
        if !skipping && (first == "virtual_server" || first == "virtual_server_group") {
            (skipping, depth, opened) = (true, 0, false);
        }
        if skipping {
            depth += c.matches('{').count() as i32 - c.matches('}').count() as i32;
            opened |= c.contains('{');
            if opened && depth <= 0 {
                skipping = false;
            }
            continue;
        }
        out.push_str(line);
    }
    out
}

/// Keywords whose value is a command keepalived runs (the lexer's list, so the two cannot
/// drift): replaced by a stub that exits 0.
use vipd::config::COMMAND_KEYWORDS as COMMANDS;

/// The lab's first router: its own addresses on the two segments (see `lab::Segment`).
const OWN4: [Ipv4Addr; 2] = [
    Ipv4Addr::new(192, 0, 2, 11),
    Ipv4Addr::new(198, 51, 100, 11),
];
const OWN6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11),
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x11),
];

/// One line in tokens (braces apart, quotes kept) and its indentation.
fn tokens(line: &str) -> (String, Vec<String>) {
    let c = code(line);
    let indent: String = c.chars().take_while(|c| c.is_whitespace()).collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    // Inside `${NAME}` (a keepalived variable): braces are part of the token.
    let mut variable = false;
    for ch in c.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            '{' if !quoted && cur.ends_with('$') => {
                variable = true;
                cur.push(ch);
            }
            '}' if variable => {
                variable = false;
                cur.push(ch);
            }
            '{' | '}' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(ch.to_string());
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    (indent, out)
}

fn unquote(t: &str) -> &str {
    t.trim_matches('"')
}

/// An address with an optional prefix length: (address, length).
enum Addr {
    V4(Ipv4Addr, Option<u8>),
    V6(Ipv6Addr, Option<u8>),
}

fn parse_addr(t: &str) -> Option<Addr> {
    let (a, len) = match t.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (t, None),
    };
    if let Ok(v4) = a.parse::<Ipv4Addr>() {
        if a.split('.').count() == 4 {
            return Some(Addr::V4(v4, len));
        }
    }
    a.parse::<Ipv6Addr>().ok().map(|v6| Addr::V6(v6, len))
}

/// What the rewrite made of a file.
pub struct Rewritten {
    /// The fixture text: header and the rewritten configuration.
    pub text: String,
    /// Original interface name -> lab name.
    pub interfaces: Vec<(String, String)>,
    /// Original address -> lab address (as written).
    pub addresses: Vec<(String, String)>,
    /// Lab dummy interfaces the `setup` lines create.
    pub dummies: Vec<String>,
}

#[derive(Default)]
struct Plan {
    interfaces: BTreeMap<String, String>,
    interface_order: Vec<String>,
    dummies: Vec<String>,
    /// Original address (without length) -> lab address.
    hosts: BTreeMap<String, String>,
    /// Original network text (with length) -> lab network text.
    networks: BTreeMap<String, String>,
    order: Vec<(String, String)>,
    next_host4: u8,
    next_host6: u16,
    next_net4: u8,
    next_net6: u16,
    peers4: [u8; 2],
    peers6: [u8; 2],
}

impl Plan {
    fn interface(&mut self, name: &str, instance: bool) -> String {
        if name == "lo" {
            return name.into();
        }
        if let Some(n) = self.interfaces.get(name) {
            return n.clone();
        }
        let used_segments = self
            .interfaces
            .values()
            .filter(|v| v.starts_with("eth"))
            .count();
        let new = if instance && used_segments < 2 {
            format!("eth{used_segments}")
        } else {
            let d = format!("labd{}", self.dummies.len());
            self.dummies.push(d.clone());
            d
        };
        self.interfaces.insert(name.into(), new.clone());
        self.interface_order.push(name.into());
        new
    }

    fn segment_of(&self, ifname: Option<&String>) -> usize {
        usize::from(ifname.is_some_and(|i| i == "eth1"))
    }

    fn record(&mut self, from: &str, to: &str) {
        self.order.push((from.into(), to.into()));
    }

    /// Roles first: an instance's source address becomes the router's own, its peers the
    /// lab's other routers (192.0.2.12 is the lab's second router, where the crafted peer
    /// lives).
    fn own(&mut self, orig: &str, segment: usize) {
        if self.hosts.contains_key(orig) {
            return;
        }
        let new = match parse_addr(orig) {
            Some(Addr::V4(..)) => OWN4[segment].to_string(),
            Some(Addr::V6(..)) => OWN6[segment].to_string(),
            None => return,
        };
        self.hosts.insert(orig.into(), new.clone());
        self.record(orig, &new);
    }

    fn peer(&mut self, orig: &str, segment: usize) {
        if self.hosts.contains_key(orig) {
            return;
        }
        let new = match parse_addr(orig) {
            Some(Addr::V4(..)) => {
                self.peers4[segment] += 1;
                let o = OWN4[segment].octets();
                Ipv4Addr::new(o[0], o[1], o[2], 11 + self.peers4[segment]).to_string()
            }
            Some(Addr::V6(..)) => {
                self.peers6[segment] += 1;
                let mut s = OWN6[segment].segments();
                // Hosts are written as decimal text in the last group (router 2 -> ::12).
                s[7] = u16::from_str_radix(&(11 + self.peers6[segment]).to_string(), 16)
                    .unwrap_or(0x12);
                Ipv6Addr::from(s).to_string()
            }
            None => return,
        };
        self.hosts.insert(orig.into(), new.clone());
        self.record(orig, &new);
    }

    /// Any other address or network, mapped the first time it is seen.
    fn map(&mut self, token: &str) -> Option<String> {
        let addr = parse_addr(token)?;
        let (bare, len) = token
            .split_once('/')
            .map_or((token, None), |(a, l)| (a, Some(l)));
        // Per family: kept as is (link-local IPv6 never leaves the segment), a network
        // (no host bits), the address length, and the shortest prefix a network and a host
        // get in the lab's documentation ranges.
        let (kept, l, is_network, bits, network_min, host_min) = match addr {
            Addr::V4(a, l) => (
                a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_broadcast(),
                l,
                l.is_some_and(|l| l < 32 && (u32::from(a) << l) == 0),
                32,
                28,
                24,
            ),
            Addr::V6(a, l) => (
                a.is_unspecified()
                    || a.is_loopback()
                    || a.is_multicast()
                    || (a.segments()[0] & 0xffc0) == 0xfe80,
                l,
                l.is_some_and(|l| l < 128 && (u128::from(a) << l) == 0),
                128,
                64,
                64,
            ),
        };
        if kept {
            return Some(token.into());
        }
        let v6 = matches!(addr, Addr::V6(..));
        if is_network && !self.hosts.contains_key(bare) {
            if let Some(n) = self.networks.get(token) {
                return Some(n.clone());
            }
            let network = if v6 {
                self.next_net6 += 1;
                Ipv6Addr::new(0x2001, 0xdb8, 0xff00 + self.next_net6, 0, 0, 0, 0, 0).to_string()
            } else {
                self.next_net4 += 1;
                Ipv4Addr::new(203, 0, 113, 16 * (self.next_net4 % 16)).to_string()
            };
            let new = format!("{network}/{}", l.unwrap_or(network_min).max(network_min));
            self.networks.insert(token.into(), new.clone());
            self.record(token, &new);
            return Some(new);
        }
        let host = match self.hosts.get(bare) {
            Some(h) => h.clone(),
            None => {
                let h = if v6 {
                    let h = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100 + self.next_host6);
                    self.next_host6 += 1;
                    h.to_string()
                } else {
                    let h = Ipv4Addr::new(192, 0, 2, 100 + self.next_host4 % 140);
                    self.next_host4 += 1;
                    h.to_string()
                };
                self.hosts.insert(bare.into(), h.clone());
                self.record(bare, &h);
                h
            }
        };
        Some(match len {
            Some(_) => format!("{host}/{}", l.unwrap_or(bits).max(host_min)),
            None => host,
        })
    }
}

/// Keywords followed by an interface name.
const INTERFACE_KEYWORDS: &[&str] = &[
    "dev",
    "default_interface",
    "lvs_sync_daemon_interface",
    "vmac_xmit_base_interface",
    "oif",
    "iif",
];

/// Whether `name` matches the shell pattern `pat` (`*` and `?`; what keepalived's includes
/// use in a file name).
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pat[1..], name) || (!name.is_empty() && glob_match(pat, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pat[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_match(&pat[1..], &name[1..]),
        _ => false,
    }
}

/// The files an absolute include path names: itself, or the sorted matches of a pattern in
/// its last component.
fn include_files(path: &str) -> Vec<std::path::PathBuf> {
    let path = std::path::Path::new(path);
    let (Some(dir), Some(pat)) = (path.parent(), path.file_name().and_then(|f| f.to_str())) else {
        return Vec::new();
    };
    if !pat.contains(['*', '?']) {
        return vec![path.to_path_buf()];
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|f| f.to_str())
                        .is_some_and(|f| glob_match(pat.as_bytes(), f.as_bytes()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// `text` with each `include FILE` (and keepalived's `includea`/`includer`/... variants; a
/// pattern too) of an existing absolute path replaced by the files' text (so what they hold
/// is rewritten too), a few levels deep.
fn inline_includes(text: &str, depth: usize) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let words: Vec<&str> = code(line).split_whitespace().collect();
        let included = match words.as_slice() {
            [kw, path] if kw.starts_with("include") && depth < 4 && path.starts_with('/') => {
                let texts: Vec<String> = include_files(path)
                    .iter()
                    .filter_map(|f| std::fs::read_to_string(f).ok())
                    .collect();
                (!texts.is_empty()).then(|| texts.join("\n"))
            }
            _ => None,
        };
        match included {
            Some(inner) => {
                out.push_str(&inline_includes(&inner, depth + 1));
                out.push('\n');
            }
            None => out.push_str(line),
        }
    }
    out
}

/// `text` (a keepalived.conf) rewritten into the lab under the fixture name `name`.
pub fn rewrite(name: &str, text: &str) -> Rewritten {
    let text = strip_lvs(&inline_includes(text, 0));
    let lines: Vec<(String, Vec<String>)> = text.lines().map(tokens).collect();
    let mut plan = Plan::default();

    // Pass 1: instance interfaces first (eth0, eth1), then source addresses and peers.
    let mut stack: Vec<String> = Vec::new();
    let mut last_first = String::new();
    let mut instance_if: Option<String> = None;
    let mut pending: Vec<(String, bool)> = Vec::new(); // (address, is_own) of the instance
    let flush = |plan: &mut Plan, pending: &mut Vec<(String, bool)>, ifname: Option<&String>| {
        let seg = plan.segment_of(ifname);
        for (a, own) in pending.drain(..) {
            if own {
                plan.own(&a, seg);
            }
        }
    };
    let mut peers: Vec<(String, Option<String>)> = Vec::new();
    for (_, t) in &lines {
        let words: Vec<&str> = t.iter().map(|w| unquote(w)).collect();
        if let Some(first) = words.first() {
            if *first != "{" && *first != "}" {
                last_first = (*first).to_owned();
            }
        }
        let top = stack.last().cloned().unwrap_or_default();
        let in_instance = stack.first().is_some_and(|s| s == "vrrp_instance");
        match words.as_slice() {
            ["interface", ifname, ..] if in_instance && stack.len() == 1 => {
                instance_if = Some(plan.interface(ifname, true));
            }
            ["unicast_src_ip" | "mcast_src_ip", a, ..] if in_instance => {
                pending.push((a.split('/').next().unwrap_or(a).to_owned(), true));
            }
            // A one-line block: `unicast_peer { 10.20.0.12 }`.
            ["unicast_peer", "{", rest @ ..] if in_instance => {
                for a in rest.iter().take_while(|w| **w != "}") {
                    peers.push((a.split('/').next().unwrap_or(a).to_owned(), None));
                }
            }
            [a, ..] if top == "unicast_peer" && *a != "{" && *a != "}" => {
                peers.push((a.split('/').next().unwrap_or(a).to_owned(), None));
            }
            _ => {}
        }
        for w in &words {
            match *w {
                "{" => stack.push(if t.first().map(String::as_str) == Some("{") {
                    last_first.clone()
                } else {
                    t.first().map(|f| unquote(f).to_owned()).unwrap_or_default()
                }),
                "}" => {
                    stack.pop();
                    if stack.is_empty() {
                        flush(&mut plan, &mut pending, instance_if.as_ref());
                        for p in peers.iter_mut().filter(|p| p.1.is_none()) {
                            p.1 = Some(instance_if.clone().unwrap_or_default());
                        }
                        instance_if = None;
                    }
                }
                _ => {}
            }
        }
    }
    for (a, ifname) in peers {
        let seg = usize::from(ifname.as_deref() == Some("eth1"));
        plan.peer(&a, seg);
    }

    // Pass 2: substitute.
    let mut out = String::new();
    stack.clear();
    let mut last_first = String::new();
    for (indent, t) in &lines {
        if t.is_empty() {
            continue;
        }
        let first = unquote(&t[0]).to_owned();
        // Notify FIFOs would be shared between runs; the LVS sync daemon needs ip_vs, which
        // a test machine may lack (keepalived then stops): LVS is not compared.
        if first.contains("notify_fifo") || first.starts_with("lvs_sync_daemon") {
            continue;
        }
        let top = stack.last().cloned().unwrap_or_default();
        let mut words: Vec<String> = Vec::with_capacity(t.len());
        let mut i = 0;
        while i < t.len() {
            let w = &t[i];
            let bare = unquote(w);
            let quoted = w.starts_with('"');
            let requote = |s: &str| {
                if quoted {
                    format!("\"{s}\"")
                } else {
                    s.to_owned()
                }
            };
            if i == 0 && COMMANDS.contains(&bare) && t.len() > 1 && top != "track_script" {
                words.push(w.clone());
                words.push("\"/bin/true\"".into());
                // The rest of the line is the command's arguments (a quoted command is one
                // token; an unquoted one may run on).
                i = t.len();
                continue;
            }
            let after_keyword = i > 0 && {
                let prev = unquote(&t[i - 1]);
                INTERFACE_KEYWORDS.contains(&prev) || (prev == "interface" && i == 1)
            };
            // Blocks listing interfaces: `track_interface`, a garp_group's `interfaces`,
            // `linkbeat_interfaces`.
            let list_block = ["track_interface", "interfaces", "linkbeat_interfaces"];
            let opens_list = list_block.contains(&first.as_str());
            let in_track_if = (list_block.contains(&top.as_str()) || opens_list)
                && i == if opens_list { 2 } else { 0 }
                && bare != "{"
                && bare != "}";
            // A definition `$NAME=VALUE`: the value is mapped as any other token.
            let definition = (i == 0 && bare.starts_with('$'))
                .then(|| bare.split_once('='))
                .flatten();
            if let Some((var, value)) = definition {
                let value = plan.map(value).unwrap_or_else(|| value.to_owned());
                words.push(format!("{var}={value}"));
            } else if after_keyword || in_track_if {
                words.push(requote(&plan.interface(bare, false)));
            } else if i > 0 && unquote(&t[i - 1]) == "label" {
                let new = match bare.split_once(':') {
                    Some((base, rest)) => format!("{}:{rest}", plan.interface(base, false)),
                    None => bare.to_owned(),
                };
                words.push(requote(&new));
            } else if let Some(m) = plan.map(bare) {
                words.push(requote(&m));
            } else {
                words.push(w.clone());
            }
            i += 1;
        }
        for w in t {
            match w.as_str() {
                "{" => stack.push(if t[0] == "{" {
                    last_first.clone()
                } else {
                    first.clone()
                }),
                "}" => {
                    stack.pop();
                }
                _ => {}
            }
        }
        if first != "{" && first != "}" {
            last_first = first.clone();
        }
        out.push_str(indent);
        out.push_str(&words.join(" "));
        out.push('\n');
    }

    let mut header = format!("# behaviour: corpus file {name}, rewritten into the lab\n");
    if plan.interfaces.values().any(|v| v == "eth1") {
        header.push_str("# lab: second-segment\n");
    }
    for d in &plan.dummies {
        header.push_str(&format!(
            "# setup: ip link add {d} type veth peer name {d}p && ip link set {d} addrgenmode none \
             && ip link set {d}p addrgenmode none && ip link set {d} up && ip link set {d}p up\n"
        ));
    }
    Rewritten {
        text: header + &out,
        interfaces: plan
            .interface_order
            .iter()
            .map(|o| (o.clone(), plan.interfaces[o].clone()))
            .collect(),
        addresses: plan.order.clone(),
        dummies: plan.dummies.clone(),
    }
}
