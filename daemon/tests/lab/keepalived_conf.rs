//! keepalived.conf text from a few typed values, so tests say what they mean.
//!
//! ```ignore
//! let conf = KeepalivedConf::new("r1")
//!     .instance(VrrpInstance::new("VI_1", "eth0", 51).priority(150).advert_ms(100)
//!         .version(3).vip("192.0.2.100/24"))
//!     .render();
//! ```

use std::fmt::Write;
use std::time::Duration;

/// `state` line of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialState {
    Master,
    Backup,
}

#[derive(Clone, Debug)]
pub struct VrrpInstance {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub state: Option<InitialState>,
    pub priority: Option<u8>,
    /// None: keepalived's default (1 s).
    pub advert_interval: Option<Duration>,
    /// None: keepalived's default (2 for IPv4, 3 forced for IPv6).
    pub version: Option<u8>,
    pub auth_pass: Option<String>,
    pub unicast_src: Option<String>,
    pub unicast_peers: Vec<String>,
    /// Address with prefix, optionally followed by `dev IFNAME` etc.
    pub vips: Vec<String>,
    pub nopreempt: bool,
    pub preempt_delay: Option<u32>,
    pub track_interfaces: Vec<String>,
    /// Extra lines placed verbatim inside the instance block.
    pub extra: Vec<String>,
}

impl VrrpInstance {
    pub fn new(name: &str, interface: &str, vrid: u8) -> VrrpInstance {
        VrrpInstance {
            name: name.to_owned(),
            interface: interface.to_owned(),
            vrid,
            state: None,
            priority: None,
            advert_interval: None,
            version: None,
            auth_pass: None,
            unicast_src: None,
            unicast_peers: Vec::new(),
            vips: Vec::new(),
            nopreempt: false,
            preempt_delay: None,
            track_interfaces: Vec::new(),
            extra: Vec::new(),
        }
    }

    pub fn state(mut self, state: InitialState) -> Self {
        self.state = Some(state);
        self
    }

    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }

    pub fn advert(mut self, interval: Duration) -> Self {
        self.advert_interval = Some(interval);
        self
    }

    pub fn advert_ms(self, ms: u64) -> Self {
        self.advert(Duration::from_millis(ms))
    }

    pub fn version(mut self, version: u8) -> Self {
        self.version = Some(version);
        self
    }

    /// `authentication { auth_type PASS; auth_pass X }` (VRRPv2 only).
    pub fn auth_pass(mut self, pass: &str) -> Self {
        self.auth_pass = Some(pass.to_owned());
        self
    }

    pub fn unicast(mut self, src: &str, peers: &[&str]) -> Self {
        self.unicast_src = Some(src.to_owned());
        self.unicast_peers = peers.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// A VIP line, e.g. `192.0.2.100/24` or `198.51.100.100/24 dev eth1`.
    pub fn vip(mut self, vip: &str) -> Self {
        self.vips.push(vip.to_owned());
        self
    }

    pub fn nopreempt(mut self) -> Self {
        self.nopreempt = true;
        self
    }

    pub fn preempt_delay(mut self, seconds: u32) -> Self {
        self.preempt_delay = Some(seconds);
        self
    }

    pub fn track_interface(mut self, ifname: &str) -> Self {
        self.track_interfaces.push(ifname.to_owned());
        self
    }

    pub fn line(mut self, line: &str) -> Self {
        self.extra.push(line.to_owned());
        self
    }

    fn render_into(&self, out: &mut String) {
        let _ = writeln!(out, "vrrp_instance {} {{", self.name);
        if let Some(state) = self.state {
            let state = match state {
                InitialState::Master => "MASTER",
                InitialState::Backup => "BACKUP",
            };
            let _ = writeln!(out, "    state {state}");
        }
        let _ = writeln!(out, "    interface {}", self.interface);
        let _ = writeln!(out, "    virtual_router_id {}", self.vrid);
        if let Some(priority) = self.priority {
            let _ = writeln!(out, "    priority {priority}");
        }
        if let Some(version) = self.version {
            let _ = writeln!(out, "    version {version}");
        }
        if let Some(interval) = self.advert_interval {
            let _ = writeln!(out, "    advert_int {}", seconds_text(interval));
        }
        if self.nopreempt {
            let _ = writeln!(out, "    nopreempt");
        }
        if let Some(delay) = self.preempt_delay {
            let _ = writeln!(out, "    preempt_delay {delay}");
        }
        if let Some(pass) = &self.auth_pass {
            let _ = writeln!(out, "    authentication {{");
            let _ = writeln!(out, "        auth_type PASS");
            let _ = writeln!(out, "        auth_pass {pass}");
            let _ = writeln!(out, "    }}");
        }
        if let Some(src) = &self.unicast_src {
            let _ = writeln!(out, "    unicast_src_ip {src}");
            let _ = writeln!(out, "    unicast_peer {{");
            for peer in &self.unicast_peers {
                let _ = writeln!(out, "        {peer}");
            }
            let _ = writeln!(out, "    }}");
        }
        if !self.track_interfaces.is_empty() {
            let _ = writeln!(out, "    track_interface {{");
            for ifname in &self.track_interfaces {
                let _ = writeln!(out, "        {ifname}");
            }
            let _ = writeln!(out, "    }}");
        }
        for line in &self.extra {
            let _ = writeln!(out, "    {line}");
        }
        let _ = writeln!(out, "    virtual_ipaddress {{");
        for vip in &self.vips {
            let _ = writeln!(out, "        {vip}");
        }
        let _ = writeln!(out, "    }}");
        let _ = writeln!(out, "}}");
    }
}

/// Seconds as keepalived writes them: `1`, `0.1`, `0.01`.
fn seconds_text(interval: Duration) -> String {
    let ms = interval.as_millis();
    if ms % 1000 == 0 {
        format!("{}", ms / 1000)
    } else {
        let text = format!("{}.{:03}", ms / 1000, ms % 1000);
        text.trim_end_matches('0').to_owned()
    }
}

/// A whole keepalived.conf: `global_defs` plus instances.
#[derive(Clone, Debug)]
pub struct KeepalivedConf {
    pub router_id: String,
    /// Extra lines inside `global_defs`.
    pub global: Vec<String>,
    pub instances: Vec<VrrpInstance>,
}

impl KeepalivedConf {
    pub fn new(router_id: &str) -> KeepalivedConf {
        KeepalivedConf {
            router_id: router_id.to_owned(),
            global: Vec::new(),
            instances: Vec::new(),
        }
    }

    pub fn global(mut self, line: &str) -> Self {
        self.global.push(line.to_owned());
        self
    }

    pub fn instance(mut self, instance: VrrpInstance) -> Self {
        self.instances.push(instance);
        self
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "global_defs {{");
        let _ = writeln!(out, "    router_id {}", self.router_id);
        for line in &self.global {
            let _ = writeln!(out, "    {line}");
        }
        let _ = writeln!(out, "}}");
        for instance in &self.instances {
            out.push('\n');
            instance.render_into(&mut out);
        }
        out
    }
}

/// The usual pair: one instance `VI_1` on `eth0`, VRID 51, one VIP, for `router_id`.
pub fn simple(router_id: &str, priority: u8, version: u8, advert: Duration, vip: &str) -> String {
    KeepalivedConf::new(router_id)
        .instance(
            VrrpInstance::new("VI_1", "eth0", 51)
                .priority(priority)
                .version(version)
                .advert(advert)
                .vip(vip),
        )
        .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advert_interval_text() {
        assert_eq!(seconds_text(Duration::from_secs(1)), "1");
        assert_eq!(seconds_text(Duration::from_millis(100)), "0.1");
        assert_eq!(seconds_text(Duration::from_millis(10)), "0.01");
        assert_eq!(seconds_text(Duration::from_millis(1250)), "1.25");
    }

    #[test]
    fn renders_instance() {
        let text = KeepalivedConf::new("r1")
            .instance(
                VrrpInstance::new("VI_1", "eth0", 51)
                    .priority(150)
                    .version(3)
                    .advert_ms(100)
                    .unicast("192.0.2.11", &["192.0.2.12"])
                    .vip("192.0.2.100/24"),
            )
            .render();
        assert!(text.contains("virtual_router_id 51\n"), "{text}");
        assert!(text.contains("advert_int 0.1\n"), "{text}");
        assert!(
            text.contains("unicast_peer {\n        192.0.2.12\n"),
            "{text}"
        );
        assert!(
            text.contains("virtual_ipaddress {\n        192.0.2.100/24\n"),
            "{text}"
        );
    }
}
