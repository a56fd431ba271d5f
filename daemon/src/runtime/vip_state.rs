//! Which addresses vipd added, kept on disk in vipd's state directory.
//!
//! vipd removes only what it added: listing the node's own address as a VIP must not cut the
//! node off when the instance leaves MASTER, and an address someone else configured stays.
//! A run that was killed cannot clean up, so every address is recorded *before* it is added
//! (and forgotten only after it is removed); the next run in the same network namespace finds
//! the record and removes what is left.
//!
//! One file per daemon in the state directory (`/var/lib/vipd`, systemd's `StateDirectory=`),
//! named after its control socket (`vipd-<hash of the socket path>.vips.json`), written
//! atomically ([`write_atomically`]). At start a daemon reads every such file that
//! belongs to its network namespace and to this boot and whose daemon is gone (its control
//! socket does not answer), removes the addresses recorded there that are still configured
//! as recorded, and deletes the file. So parallel daemons (several sockets) keep their own
//! records, and a restart under another socket name still finds the leftovers. Records of an
//! earlier boot are deleted unread: a reboot took their addresses, and an address configured
//! since is someone else's.
//!
//! The state directory rather than the runtime directory: under `DynamicUser=yes` a runtime
//! directory kept across restarts moves below the root-only `/run/private`, where a
//! `control_group` could no longer reach the control socket; and a runtime directory removed
//! on stop would lose the record exactly when a crashed vipd needs it.
//!

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic_file::{write_atomically, Durability};
use crate::config::{Route, Rule};

/// File name suffix of the records.
const SUFFIX: &str = "vips.json";
/// A record larger than this is not ours (thousands of addresses fit in far less).
const MAX_FILE_BYTES: u64 = 4 << 20;
const FORMAT_VERSION: u32 = 1;

/// One address vipd added: where, which, with which prefix (the kernel tells addresses with
/// another prefix apart, and so do we).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddedAddress {
    pub interface: String,
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl std::fmt::Display for AddedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} on {}",
            self.address, self.prefix_len, self.interface
        )
    }
}

/// A network namespace: device and inode of `/proc/self/ns/net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsId {
    pub dev: u64,
    pub ino: u64,
}

impl NetnsId {
    pub fn current() -> io::Result<NetnsId> {
        let meta = fs::metadata("/proc/self/ns/net")?;
        Ok(NetnsId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    version: u32,
    /// `/proc/sys/kernel/random/boot_id` when it was written: addresses do not outlive a boot.
    boot_id: String,
    pid: u32,
    /// The control socket of the daemon that wrote it: how to tell whether it still runs.
    socket: PathBuf,
    netns: NetnsId,
    addresses: BTreeSet<AddedAddress>,
    /// Routes vipd added (virtual and static ones), each as added.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    routes: BTreeSet<Route>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    rules: BTreeSet<Rule>,
}

/// What the record of a daemon that is gone says it added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftovers {
    pub file: PathBuf,
    pub addresses: BTreeSet<AddedAddress>,
    pub routes: BTreeSet<Route>,
    pub rules: BTreeSet<Rule>,
}

/// This daemon's record of what it added.
#[derive(Debug)]
pub struct VipState {
    dir: PathBuf,
    path: PathBuf,
    record: Record,
    /// What is in `record` (and on disk) only because it is about to be added: see
    /// [`VipState::reserve`].
    reserved: Reserved,
    /// The link each address went on, by index (in memory only): an interface renamed since
    /// keeps its index, and the address with it, while its old name finds nothing.
    links: BTreeMap<AddedAddress, u32>,
    /// Forgetting only marks the file stale (see [`VipState::defer_forgets`]).
    forgets_deferred: bool,
    /// The file lacks forgets made since it was written.
    stale: bool,
    /// How many times the file was written (tests count them).
    #[cfg(test)]
    writes: u64,
}

/// Items written to the record ahead of adding them, not yet added.
#[derive(Debug, Default)]
struct Reserved {
    addresses: BTreeSet<AddedAddress>,
    routes: BTreeSet<Route>,
    rules: BTreeSet<Rule>,
}

/// What vipd records before adding it and forgets after removing it: an address
/// ([`AddedAddress`]), a [`Route`] or a [`Rule`]. Each kind has its set in the record, and
/// its set of those reserved (in the record, not added yet).
pub trait Recorded: Ord + Clone {
    /// The recorded ones and the reserved ones.
    fn sets(state: &VipState) -> (&BTreeSet<Self>, &BTreeSet<Self>);
    fn sets_mut(state: &mut VipState) -> (&mut BTreeSet<Self>, &mut BTreeSet<Self>);
}

impl Recorded for AddedAddress {
    fn sets(state: &VipState) -> (&BTreeSet<Self>, &BTreeSet<Self>) {
        (&state.record.addresses, &state.reserved.addresses)
    }
    fn sets_mut(state: &mut VipState) -> (&mut BTreeSet<Self>, &mut BTreeSet<Self>) {
        (&mut state.record.addresses, &mut state.reserved.addresses)
    }
}

impl Recorded for Route {
    fn sets(state: &VipState) -> (&BTreeSet<Self>, &BTreeSet<Self>) {
        (&state.record.routes, &state.reserved.routes)
    }
    fn sets_mut(state: &mut VipState) -> (&mut BTreeSet<Self>, &mut BTreeSet<Self>) {
        (&mut state.record.routes, &mut state.reserved.routes)
    }
}

impl Recorded for Rule {
    fn sets(state: &VipState) -> (&BTreeSet<Self>, &BTreeSet<Self>) {
        (&state.record.rules, &state.reserved.rules)
    }
    fn sets_mut(state: &mut VipState) -> (&mut BTreeSet<Self>, &mut BTreeSet<Self>) {
        (&mut state.record.rules, &mut state.reserved.rules)
    }
}

/// The record file, in `state_dir`, of the daemon with control socket `socket`: the socket's
/// name and a hash of its whole path (FNV-1a), so daemons sharing a state directory with
/// sockets of the same name in different directories keep apart.
pub fn state_path(state_dir: &Path, socket: &Path) -> PathBuf {
    named_state_path(state_dir, socket, SUFFIX)
}

/// A file of the daemon with control socket `socket` in `state_dir`, named as the record is
/// but ending in `suffix`.
pub fn named_state_path(state_dir: &Path, socket: &Path, suffix: &str) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let hash = socket
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    let stem = socket
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    state_dir.join(format!("{stem}-{hash:016x}.{suffix}"))
}

/// This boot's id; empty where the kernel does not say (records then match any boot).
fn current_boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_string())
        .unwrap_or_default()
}

impl VipState {
    /// An empty record, kept in `state_dir`, for the daemon with control socket `socket` (not
    /// written yet).
    pub fn new(state_dir: &Path, socket: &Path) -> io::Result<VipState> {
        Ok(VipState {
            dir: state_dir.to_path_buf(),
            path: state_path(state_dir, socket),
            record: Record {
                version: FORMAT_VERSION,
                boot_id: current_boot_id(),
                pid: std::process::id(),
                socket: socket.to_path_buf(),
                netns: NetnsId::current()?,
                addresses: BTreeSet::new(),
                routes: BTreeSet::new(),
                rules: BTreeSet::new(),
            },
            reserved: Reserved::default(),
            links: BTreeMap::new(),
            forgets_deferred: false,
            stale: false,
            #[cfg(test)]
            writes: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state directory the records are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn addresses(&self) -> &BTreeSet<AddedAddress> {
        &self.record.addresses
    }

    /// Notes the index of the link `address` is on (after adding it).
    pub fn note_link(&mut self, address: &AddedAddress, index: u32) {
        self.links.insert(address.clone(), index);
    }

    /// The index of the link `address` was added to in this run, if noted.
    pub fn link_of(&self, address: &AddedAddress) -> Option<u32> {
        self.links.get(address).copied()
    }

    /// Forgets the link of `address` (once it is removed).
    pub fn forget_link(&mut self, address: &AddedAddress) {
        self.links.remove(address);
    }

    /// Whether vipd recorded `item` as added (a reserved one is not added yet).
    pub fn contains<T: Recorded>(&self, item: &T) -> bool {
        let (recorded, reserved) = T::sets(self);
        recorded.contains(item) && !reserved.contains(item)
    }

    /// Records `item` and writes the file; call it before adding it. A reserved item is on
    /// disk already: it is only taken out of the reserved ones. The record holds in memory
    /// even when the write fails (the error says why the next run may miss it).
    pub fn record<T: Recorded>(&mut self, item: T) -> io::Result<()> {
        let (recorded, reserved) = T::sets_mut(self);
        if reserved.remove(&item) || !recorded.insert(item) {
            return Ok(());
        }
        self.save()
    }

    /// Forgets `item` and writes the file (unless forgets are deferred); call it after
    /// removing it.
    pub fn forget<T: Recorded>(&mut self, item: &T) -> io::Result<()> {
        let (recorded, reserved) = T::sets_mut(self);
        reserved.remove(item);
        if recorded.remove(item) {
            self.forgotten()
        } else {
            Ok(())
        }
    }

    /// From now until [`VipState::flush`], forgetting writes nothing: many removals in a row
    /// (hundreds of instances leaving MASTER at once) make one write, not one each. Safe
    /// because a record of something vipd already removed only has the next run remove it
    /// again if it is there. Recording still writes at once (with the forgets so far).
    pub fn defer_forgets(&mut self) {
        self.forgets_deferred = true;
    }

    /// Whether forgets are deferred now (see [`VipState::defer_forgets`]).
    pub fn forgets_deferred(&self) -> bool {
        self.forgets_deferred
    }

    /// Ends [`VipState::defer_forgets`], writing the file if forgets are not on disk yet.
    pub fn flush(&mut self) -> io::Result<()> {
        self.forgets_deferred = false;
        if self.stale {
            self.save()
        } else {
            Ok(())
        }
    }

    fn forgotten(&mut self) -> io::Result<()> {
        if self.forgets_deferred {
            self.stale = true;
            Ok(())
        } else {
            self.save()
        }
    }

    /// Writes those of `items` vipd has not recorded to the record in one go, ahead of adding
    /// them: one write of the file for many items rather than one each (a whole file every
    /// time). Until [`VipState::record`] takes one (it was added) it does not count as
    /// added; [`VipState::release`] forgets those that were not.
    pub fn reserve<T: Recorded>(&mut self, items: impl IntoIterator<Item = T>) -> io::Result<()> {
        let (recorded, reserved) = T::sets_mut(self);
        let mut new = false;
        for item in items {
            if !recorded.contains(&item) {
                recorded.insert(item.clone());
                reserved.insert(item);
                new = true;
            }
        }
        if new {
            self.save()
        } else {
            Ok(())
        }
    }

    /// Forgets those of `items` still reserved (they were not added), in one write.
    pub fn release<'a, T: Recorded + 'a>(
        &mut self,
        items: impl IntoIterator<Item = &'a T>,
    ) -> io::Result<()> {
        let (recorded, reserved) = T::sets_mut(self);
        let mut gone = false;
        for item in items {
            if reserved.remove(item) {
                recorded.remove(item);
                gone = true;
            }
        }
        if gone {
            self.forgotten()
        } else {
            Ok(())
        }
    }

    /// Forgets everything still reserved (not added), as [`VipState::release`].
    pub fn release_all(&mut self) -> io::Result<()> {
        let reserved = std::mem::take(&mut self.reserved);
        let none = reserved.addresses.is_empty()
            && reserved.routes.is_empty()
            && reserved.rules.is_empty();
        if none {
            return Ok(());
        }
        for address in &reserved.addresses {
            self.record.addresses.remove(address);
        }
        for route in &reserved.routes {
            self.record.routes.remove(route);
        }
        for rule in &reserved.rules {
            self.record.rules.remove(rule);
        }
        self.forgotten()
    }

    /// How many times the file was written.
    #[cfg(test)]
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Whether nothing is recorded (the file can go).
    pub fn is_empty(&self) -> bool {
        self.record.addresses.is_empty()
            && self.record.routes.is_empty()
            && self.record.rules.is_empty()
    }

    /// Writes the record whole (see [`write_atomically`]; not synced: a reboot takes the
    /// addresses it records, and a sync on the event loop could wait for a slow disk).
    /// Creates the state directory (mode 0700) when it is missing.
    pub fn save(&mut self) -> io::Result<()> {
        #[cfg(test)]
        {
            self.writes += 1;
        }
        let text = serde_json::to_vec_pretty(&self.record).map_err(io::Error::other)?;
        write_atomically(&self.path, &text, 0o600, Durability::ThisBoot)?;
        self.stale = false;
        Ok(())
    }

    /// The records of earlier runs in this network namespace whose daemon is gone: ours from
    /// before (same file), and any other whose control socket no longer answers. Records of
    /// an earlier boot come back without addresses (their file is to be deleted).
    #[cfg(test)]
    pub fn leftovers(&self) -> Vec<Leftovers> {
        self.read_at_start().0
    }

    /// [`VipState::leftovers`], and what the other daemons still running in this namespace
    /// added (as [`added_by_running_daemons`]), from one read of the state directory: a
    /// start read it twice (in a directory shared by many namespaces, a read is tens of
    /// milliseconds on a loaded machine).
    pub fn read_at_start(&self) -> (Vec<Leftovers>, BTreeSet<AddedAddress>) {
        let mut running = BTreeSet::new();
        let mut gone = Vec::new();
        for (file, record) in read_records(&self.dir, self.record.netns) {
            let this_boot = record.boot_id == self.record.boot_id;
            let other = record.socket != self.record.socket;
            let alive = this_boot && other && is_alive(&record.socket);
            if alive {
                running.extend(record.addresses.iter().cloned());
            }
            if file == self.path || !this_boot || (other && !alive) {
                gone.push((file, record));
            }
        }
        let leftovers = (gone.into_iter())
            .map(|(file, record)| Leftovers {
                file,
                // A reboot took what the record lists with it.
                addresses: if record.boot_id == self.record.boot_id {
                    record.addresses
                } else {
                    BTreeSet::new()
                },
                routes: if record.boot_id == self.record.boot_id {
                    record.routes
                } else {
                    BTreeSet::new()
                },
                rules: if record.boot_id == self.record.boot_id {
                    record.rules
                } else {
                    BTreeSet::new()
                },
            })
            .collect();
        (leftovers, running)
    }
}

/// Addresses that other daemons still running in this network namespace and boot have added,
/// from the records in `state_dir` (the one of the daemon with control socket `socket`
/// excluded).
pub fn added_by_running_daemons(
    state_dir: &Path,
    socket: &Path,
) -> io::Result<BTreeSet<AddedAddress>> {
    let netns = NetnsId::current()?;
    let boot_id = current_boot_id();
    let dir = state_dir;
    if let Err(e) = fs::read_dir(dir) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(io::Error::new(
                e.kind(),
                format!("reading {}: {e}", dir.display()),
            ));
        }
    }
    Ok(read_records(dir, netns)
        .into_iter()
        .filter(|(_, record)| {
            record.boot_id == boot_id && record.socket != socket && is_alive(&record.socket)
        })
        .flat_map(|(_, record)| record.addresses)
        .collect())
}

/// What every vipd of this boot recorded in `state_dir` for this network namespace, running
/// or not. A vipd that starts removes what its earlier run and dead daemons left before it
/// looks at the node's addresses, and a running one knows its own: none of these is one of
/// the node's own addresses for `vipd check`.
pub fn recorded_this_boot(state_dir: &Path) -> io::Result<BTreeSet<AddedAddress>> {
    let netns = NetnsId::current()?;
    let boot_id = current_boot_id();
    Ok(read_records(state_dir, netns)
        .into_iter()
        .filter(|(_, record)| record.boot_id == boot_id)
        .flat_map(|(_, record)| record.addresses)
        .collect())
}

/// Whether a daemon answers on `socket`.
fn is_alive(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// Every readable record in `dir` that belongs to `netns`. Unreadable or malformed files
/// are skipped with a warning: they are not ours to trust.
fn read_records(dir: &Path, netns: NetnsId) -> Vec<(PathBuf, Record)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_record = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(&format!(".{SUFFIX}")));
        if !is_record || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        match read_record_of(&path, netns) {
            Ok(Some(record)) => records.push((path, record)),
            Ok(None) => {}
            Err(e) => tracing::warn!("ignoring {}: {e}", path.display()),
        }
    }
    records.sort_by(|a, b| a.0.cmp(&b.0));
    records
}

/// The fields of a record that say whose it is. A state directory shared by the daemons of
/// many network namespaces (a lab, containers) holds many records of others, each with up to
/// hundreds of addresses: parsing all of them whole, twice, was most of the time to READY=1
/// (300 records of a test machine: 120 ms of 160).
#[derive(Deserialize)]
struct RecordOwner {
    version: u32,
    netns: NetnsId,
}

/// The record in `path` when it belongs to `netns` (None: another namespace's).
fn read_record_of(path: &Path, netns: NetnsId) -> io::Result<Option<Record>> {
    let text = read_bounded(path)?;
    // The inode number is in every record of `netns` (serde_json writes integers in
    // decimal): a record without it is another namespace's, passed over unparsed.
    if memchr::memmem::find(&text, netns.ino.to_string().as_bytes()).is_none() {
        return Ok(None);
    }
    let owner: RecordOwner = serde_json::from_slice(&text).map_err(invalid_data)?;
    check_version(owner.version)?;
    if owner.netns != netns {
        return Ok(None);
    }
    parse_record(&text).map(Some)
}

#[cfg(test)]
fn read_record(path: &Path) -> io::Result<Record> {
    parse_record(&read_bounded(path)?)
}

fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    let file = fs::File::open(path)?;
    let mut text = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "larger than a record of vipd",
        ));
    }
    Ok(text)
}

fn parse_record(text: &[u8]) -> io::Result<Record> {
    let record: Record = serde_json::from_slice(text).map_err(invalid_data)?;
    check_version(record.version)?;
    Ok(record)
}

fn check_version(version: u32) -> io::Result<()> {
    if version == FORMAT_VERSION {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown format version {version}"),
        ))
    }
}

fn invalid_data(e: serde_json::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A configured VIP the node holds as its own address (vipd did not add it), with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnAddressConflict {
    pub instance: String,
    pub vip: IpAddr,
    /// `ADDRESS/PREFIX on INTERFACE` as the node has it.
    pub held: Vec<AddedAddress>,
}

impl std::fmt::Display for OwnAddressConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held: Vec<String> = self.held.iter().map(ToString::to_string).collect();
        let remove: Vec<String> = self
            .held
            .iter()
            .map(|a| {
                format!(
                    "ip address del {}/{} dev {}",
                    a.address, a.prefix_len, a.interface
                )
            })
            .collect();
        write!(
            f,
            "instance `{}`: VIP {} is an address of this node ({}), not one vipd added: vipd \
             would take it away whenever the instance leaves MASTER; use an address no \
             interface holds (if a vipd without a record of it left it behind, remove it: \
             `{}`)",
            self.instance,
            self.vip,
            held.join(", "),
            remove.join("; ")
        )
    }
}

/// The VIPs of `instances` (name, addresses) that the node holds (`node_addresses`) and
/// nobody recorded as added by vipd (`added`).
pub fn own_address_conflicts<'a>(
    instances: impl IntoIterator<Item = (&'a str, Vec<IpAddr>)>,
    node_addresses: &[AddedAddress],
    added: &BTreeSet<AddedAddress>,
) -> Vec<OwnAddressConflict> {
    let mut conflicts = Vec::new();
    for (instance, vips) in instances {
        for vip in vips {
            let held: Vec<AddedAddress> = node_addresses
                .iter()
                .filter(|a| a.address == vip && !added.contains(a))
                .cloned()
                .collect();
            if !held.is_empty() {
                conflicts.push(OwnAddressConflict {
                    instance: instance.to_string(),
                    vip,
                    held,
                });
            }
        }
    }
    conflicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn added(interface: &str, text: &str) -> AddedAddress {
        let (address, prefix) = text.split_once('/').unwrap();
        AddedAddress {
            interface: interface.to_string(),
            address: address.parse().unwrap(),
            prefix_len: prefix.parse().unwrap(),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vipd-state-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn state_file_is_named_after_the_socket_in_the_state_directory() {
        let default = state_path(Path::new("/var/lib/vipd"), Path::new("/run/vipd/vipd.sock"));
        assert_eq!(default.parent(), Some(Path::new("/var/lib/vipd")));
        let name = default.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("vipd-") && name.ends_with(".vips.json"),
            "{name}"
        );
        // Stable across runs, distinct for sockets of one name in two directories.
        assert_eq!(
            default,
            state_path(Path::new("/var/lib/vipd"), Path::new("/run/vipd/vipd.sock"))
        );
        assert_ne!(
            default,
            state_path(
                Path::new("/var/lib/vipd"),
                Path::new("/run/other/vipd.sock")
            )
        );
    }

    #[test]
    fn records_survive_a_crash_and_only_dead_daemons_leave_leftovers() {
        let dir = temp_dir("leftovers");
        let vip = added("eth0", "192.0.2.100/24");
        let vip6 = added("eth0", "2001:db8::100/64");

        // A run that was killed: its record stays, its socket file too, nobody listens.
        let killed_socket = dir.join("old.sock");
        let mut killed = VipState::new(&dir, &killed_socket).unwrap();
        killed.record(vip.clone()).unwrap();
        killed.record(vip6.clone()).unwrap();
        killed.forget(&vip6).unwrap();
        let route = Route::parse("blackhole 198.51.100.0/24").unwrap();
        let gone = Route::parse("203.0.113.0/24 via 192.0.2.1 dev eth0").unwrap();
        let rule = Rule::parse("fwmark 0x7 table 100 priority 7").unwrap();
        killed.record(route.clone()).unwrap();
        killed.record(gone.clone()).unwrap();
        killed.forget(&gone).unwrap();
        killed.record(rule.clone()).unwrap();
        fs::write(&killed_socket, b"").unwrap();

        // A daemon that still runs, under another socket.
        let alive_socket = dir.join("alive.sock");
        let _listener = UnixListener::bind(&alive_socket).unwrap();
        let mut alive = VipState::new(&dir, &alive_socket).unwrap();
        alive.record(added("eth1", "198.51.100.7/32")).unwrap();

        // Junk and other namespaces are ignored.
        fs::write(dir.join("junk.vips.json"), b"{ not json").unwrap();
        let mut foreign = VipState::new(&dir, &dir.join("foreign.sock")).unwrap();
        foreign.record.netns.ino ^= 1;
        foreign.record(added("eth0", "203.0.113.1/32")).unwrap();
        // One whose namespace number has ours in its digits is read and still told apart.
        let mut lookalike = VipState::new(&dir, &dir.join("lookalike.sock")).unwrap();
        lookalike.record.netns.ino = lookalike.record.netns.ino * 10 + 1;
        lookalike.record(added("eth0", "203.0.113.2/32")).unwrap();

        // The new run, under yet another socket.
        let new = VipState::new(&dir, &dir.join("new.sock")).unwrap();
        let leftovers = new.leftovers();
        assert_eq!(
            leftovers,
            vec![Leftovers {
                file: killed.path().to_path_buf(),
                addresses: [vip.clone()].into(),
                routes: [route].into(),
                rules: [rule].into(),
            }]
        );
        assert_eq!(
            added_by_running_daemons(&dir, &dir.join("new.sock")).unwrap(),
            [added("eth1", "198.51.100.7/32")].into()
        );
        // The start reads both in one pass, with the same outcome.
        assert_eq!(
            new.read_at_start(),
            (leftovers, [added("eth1", "198.51.100.7/32")].into())
        );

        // Restarting under the same socket finds its own record.
        let again = VipState::new(&dir, &killed_socket).unwrap();
        assert_eq!(again.leftovers().len(), 1);
        assert_eq!(again.leftovers()[0].file, killed.path());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_of_an_earlier_boot_are_dropped_without_touching_their_addresses() {
        let dir = temp_dir("reboot");
        let mut before_reboot = VipState::new(&dir, &dir.join("old.sock")).unwrap();
        before_reboot.record.boot_id = "an-earlier-boot".to_string();
        before_reboot
            .record(added("eth0", "192.0.2.100/24"))
            .unwrap();
        let route = Route::parse("198.51.100.0/24 via 192.0.2.1").unwrap();
        before_reboot.record(route).unwrap();
        let rule = Rule::parse("from 192.0.2.100 table 100 priority 100").unwrap();
        before_reboot.record(rule).unwrap();
        let now = VipState::new(&dir, &dir.join("old.sock")).unwrap();
        assert_eq!(
            now.leftovers(),
            vec![Leftovers {
                file: before_reboot.path().to_path_buf(),
                addresses: BTreeSet::new(),
                routes: BTreeSet::new(),
                rules: BTreeSet::new(),
            }]
        );
        // Nor does it count as a running daemon's.
        assert!(added_by_running_daemons(&dir, &dir.join("new.sock"))
            .unwrap()
            .is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_state_directory_is_created_private_on_first_save() {
        let dir = temp_dir("mkdir").join("state");
        let mut state = VipState::new(&dir, Path::new("/run/x/vipd.sock")).unwrap();
        state.save().unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert!(state.path().exists());
        fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn saving_replaces_the_file_whole() {
        let dir = temp_dir("atomic");
        let mut state = VipState::new(&dir, &dir.join("d.sock")).unwrap();
        for n in 0..50u8 {
            state
                .record(added("eth0", &format!("192.0.2.{n}/32")))
                .unwrap();
            let on_disk = read_record(state.path()).unwrap();
            assert_eq!(on_disk.addresses.len(), usize::from(n) + 1);
        }
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let expected = state
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(names, [expected], "temporary files left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reserving_510_vips_writes_the_record_once_before_any_is_added() {
        let dir = temp_dir("reserve");
        let vips: Vec<AddedAddress> = (1..=510u32)
            .map(|n| added("eth0", &format!("2001:db8::{n:x}/128")))
            .collect();

        // One at a time, each record is a write of the whole file.
        let mut one_by_one = VipState::new(&dir, &dir.join("one.sock")).unwrap();
        for vip in &vips {
            one_by_one.record(vip.clone()).unwrap();
        }
        assert_eq!(one_by_one.writes(), 510);

        let mut state = VipState::new(&dir, &dir.join("batch.sock")).unwrap();
        state.reserve(vips.iter().cloned()).unwrap();
        assert_eq!(state.writes(), 1);
        // On disk before any is added: a kill -9 from here on leaves nothing unknown.
        let on_disk = read_record(state.path()).unwrap().addresses;
        assert_eq!(on_disk, vips.iter().cloned().collect());
        for vip in &vips {
            assert!(!state.contains(vip), "{vip} counts as added before it is");
            state.record(vip.clone()).unwrap();
            assert!(state.contains(vip));
        }
        state.release(&vips).unwrap();
        assert_eq!(state.writes(), 1);
        assert_eq!(read_record(state.path()).unwrap().addresses.len(), 510);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_turn_of_510_takeovers_then_510_releases_writes_the_record_twice() {
        let dir = temp_dir("turn");
        let vips: Vec<AddedAddress> = (1..=510u32)
            .map(|n| added(&format!("eth{}", n % 7), &format!("2001:db8::{n:x}/128")))
            .collect();
        let mut state = VipState::new(&dir, &dir.join("d.sock")).unwrap();
        // Every instance takes over in one turn: reserved together, then each added.
        state.defer_forgets();
        state.reserve(vips.iter().cloned()).unwrap();
        for vip in &vips[..500] {
            state.record(vip.clone()).unwrap();
        }
        // Ten could not be added (their interface is gone): not ours.
        state.release_all().unwrap();
        state.flush().unwrap();
        assert_eq!(state.writes(), 2, "one to reserve, one to forget the ten");
        let on_disk = read_record(state.path()).unwrap().addresses;
        assert_eq!(on_disk, vips[..500].iter().cloned().collect());

        // All leave MASTER in one turn: removed, forgotten, written once at the end.
        state.defer_forgets();
        for vip in &vips[..500] {
            state.forget(vip).unwrap();
        }
        assert_eq!(state.writes(), 2, "forgets wait for the flush");
        assert_eq!(read_record(state.path()).unwrap().addresses.len(), 500);
        state.flush().unwrap();
        assert_eq!(state.writes(), 3);
        assert!(read_record(state.path()).unwrap().addresses.is_empty());
        // Nothing forgotten, nothing written.
        state.defer_forgets();
        state.release_all().unwrap();
        state.flush().unwrap();
        assert_eq!(state.writes(), 3);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recording_while_forgets_are_deferred_writes_at_once_with_them() {
        let dir = temp_dir("deferred");
        let (old, new) = (added("eth0", "192.0.2.1/32"), added("eth0", "192.0.2.2/32"));
        let mut state = VipState::new(&dir, &dir.join("d.sock")).unwrap();
        state.record(old.clone()).unwrap();
        state.defer_forgets();
        state.forget(&old).unwrap();
        state.record(new.clone()).unwrap();
        assert_eq!(state.writes(), 2);
        assert_eq!(read_record(state.path()).unwrap().addresses, [new].into());
        state.flush().unwrap();
        assert_eq!(state.writes(), 2, "the forget went with the record");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn releasing_forgets_only_what_was_reserved_and_not_added() {
        let dir = temp_dir("release");
        let (ours, added_now, not_added) = (
            added("eth0", "192.0.2.1/32"),
            added("eth0", "192.0.2.2/32"),
            added("eth9", "192.0.2.3/32"),
        );
        let route = Route::parse("198.51.100.0/24 via 192.0.2.254").unwrap();
        let mut state = VipState::new(&dir, &dir.join("d.sock")).unwrap();
        state.record(ours.clone()).unwrap();
        let all = [ours.clone(), added_now.clone(), not_added.clone()];
        state.reserve(all.iter().cloned()).unwrap();
        state.reserve([route.clone()]).unwrap();
        assert_eq!(state.writes(), 3);
        assert!(state.contains(&ours), "recorded before: still ours");
        assert!(!state.contains(&added_now) && !state.contains(&route));
        state.record(added_now.clone()).unwrap();
        state.release(&all).unwrap();
        state.release(std::slice::from_ref(&route)).unwrap();
        assert_eq!(state.writes(), 5);
        let on_disk = read_record(state.path()).unwrap();
        assert_eq!(on_disk.addresses, [ours.clone(), added_now.clone()].into());
        assert!(on_disk.routes.is_empty());
        assert!(state.contains(&ours) && state.contains(&added_now));
        assert!(!state.contains(&not_added) && !state.contains(&route));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_vip_the_node_holds_is_a_conflict_unless_vipd_added_it() {
        let node = [
            added("eth0", "192.0.2.11/24"),
            added("eth0", "192.0.2.100/24"),
            added("lo", "192.0.2.50/32"),
        ];
        let recorded: BTreeSet<AddedAddress> = [added("eth0", "192.0.2.100/24")].into();
        let vips = |list: &[&str]| list.iter().map(|v| v.parse().unwrap()).collect::<Vec<_>>();
        let conflicts = own_address_conflicts(
            [
                ("VI_1", vips(&["192.0.2.11", "192.0.2.100"])),
                ("VI_2", vips(&["192.0.2.50", "192.0.2.200"])),
            ],
            &node,
            &recorded,
        );
        assert_eq!(conflicts.len(), 2, "{conflicts:#?}");
        assert_eq!(
            (conflicts[0].instance.as_str(), conflicts[0].vip.to_string()),
            ("VI_1", "192.0.2.11".to_string())
        );
        let text = conflicts[1].to_string();
        assert!(
            text.contains("`VI_2`")
                && text.contains("192.0.2.50/32 on lo")
                && text.contains("`ip address del 192.0.2.50/32 dev lo`"),
            "{text}"
        );
    }
}
