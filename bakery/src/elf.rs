//! Just enough ELF to tell whether a binary is static and which machine it is for: the file
//! header, the program headers and, for static-pie binaries, the dynamic section's DT_NEEDED.
//!
//! Hand-written on purpose: `object` and `goblin` read ELF well but neither is in bake's
//! dependency tree, and bake needs three facts from two tables. This reader is about 120
//! lines of safe, bounds-checked code (every offset from the file goes through
//! `Bytes::get`), tested on truncated and hostile headers below; either crate would add
//! tens of thousands of lines, with `unsafe` casts, to read them.

/// What an ELF file needs at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linkage {
    /// No PT_DYNAMIC, no PT_INTERP.
    Static,
    /// PT_DYNAMIC without PT_INTERP or DT_NEEDED: self-relocating, needs no loader or library
    /// (what Rust's musl targets produce by default).
    StaticPie,
    /// Has PT_INTERP (a dynamic loader) or DT_NEEDED libraries.
    Dynamic,
}

impl std::fmt::Display for Linkage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Linkage::Static => "static",
            Linkage::StaticPie => "static-pie",
            Linkage::Dynamic => "dynamic",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    pub machine: u16,
    pub is_64: bool,
    pub linkage: Linkage,
}

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;

/// Returns true when `data` starts with the ELF magic.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

/// Little- or big-endian reads at an offset, failing on truncation.
struct Bytes<'a> {
    data: &'a [u8],
    little: bool,
}

impl Bytes<'_> {
    fn get<const N: usize>(&self, at: u64) -> Result<[u8; N], String> {
        // Program header offsets come from the file: never trust them.
        let start = usize::try_from(at).map_err(|_| format!("offset {at} too large"))?;
        let end = start
            .checked_add(N)
            .ok_or_else(|| format!("offset {at} too large"))?;
        let slice = self
            .data
            .get(start..end)
            .ok_or_else(|| format!("truncated at offset {at}"))?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        if !self.little {
            out.reverse();
        }
        Ok(out)
    }
    fn u16(&self, at: u64) -> Result<u16, String> {
        self.get::<2>(at).map(u16::from_le_bytes)
    }
    fn u32(&self, at: u64) -> Result<u32, String> {
        self.get::<4>(at).map(u32::from_le_bytes)
    }
    fn u64(&self, at: u64) -> Result<u64, String> {
        self.get::<8>(at).map(u64::from_le_bytes)
    }
    fn word(&self, at: u64, is_64: bool) -> Result<u64, String> {
        if is_64 {
            self.u64(at)
        } else {
            self.u32(at).map(u64::from)
        }
    }
}

/// Parses the ELF header and program headers of `data`.
pub fn parse(data: &[u8]) -> Result<ElfInfo, String> {
    if !is_elf(data) {
        return Err("not an ELF file".into());
    }
    let is_64 = match data.get(4) {
        Some(1) => false,
        Some(2) => true,
        other => return Err(format!("bad ELF class {other:?}")),
    };
    let little = match data.get(5) {
        Some(1) => true,
        Some(2) => false,
        other => return Err(format!("bad ELF data encoding {other:?}")),
    };
    let b = Bytes { data, little };
    let machine = b.u16(18)?;
    let (phoff, phentsize, phnum) = if is_64 {
        (b.u64(32)?, b.u16(54)?, b.u16(56)?)
    } else {
        (u64::from(b.u32(28)?), b.u16(42)?, b.u16(44)?)
    };
    let mut interp = false;
    let mut dynamic: Option<(u64, u64)> = None;
    for i in 0..u64::from(phnum) {
        let ph = phoff
            .checked_add(i * u64::from(phentsize))
            .ok_or("program header offset overflows")?;
        let p_type = b.u32(ph)?;
        // p_offset/p_filesz sit at different places in the 32- and 64-bit layouts.
        let (offset, filesz) = if is_64 {
            (b.u64(ph.saturating_add(8))?, b.u64(ph.saturating_add(32))?)
        } else {
            (
                u64::from(b.u32(ph.saturating_add(4))?),
                u64::from(b.u32(ph.saturating_add(16))?),
            )
        };
        match p_type {
            PT_INTERP => interp = true,
            PT_DYNAMIC => dynamic = Some((offset, filesz)),
            _ => {}
        }
    }
    let linkage = match (interp, dynamic) {
        (true, _) => Linkage::Dynamic,
        (false, None) => Linkage::Static,
        (false, Some((offset, size))) => {
            if has_needed(&b, offset, size, is_64)? {
                Linkage::Dynamic
            } else {
                Linkage::StaticPie
            }
        }
    };
    Ok(ElfInfo {
        machine,
        is_64,
        linkage,
    })
}

fn has_needed(b: &Bytes<'_>, offset: u64, size: u64, is_64: bool) -> Result<bool, String> {
    let entry: u64 = if is_64 { 16 } else { 8 };
    let end = offset.saturating_add(size);
    let mut at = offset;
    while at.saturating_add(entry) <= end {
        let tag = b.word(at, is_64)?;
        if tag == DT_NULL {
            break;
        }
        if tag == DT_NEEDED {
            return Ok(true);
        }
        at += entry;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit little-endian ELF with the given program header types.
    fn elf64(machine: u16, segments: &[(u32, &[u64])]) -> Vec<u8> {
        let mut data = vec![0u8; 64];
        data[..4].copy_from_slice(b"\x7fELF");
        data[4] = 2;
        data[5] = 1;
        data[18..20].copy_from_slice(&machine.to_le_bytes());
        data[32..40].copy_from_slice(&64u64.to_le_bytes());
        data[54..56].copy_from_slice(&56u16.to_le_bytes());
        data[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        let payload_start = 64 + 56 * segments.len();
        let mut payload = Vec::new();
        for (p_type, words) in segments {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&p_type.to_le_bytes());
            let off = (payload_start + payload.len()) as u64;
            ph[8..16].copy_from_slice(&off.to_le_bytes());
            ph[32..40].copy_from_slice(&((words.len() * 8) as u64).to_le_bytes());
            data.extend(ph);
            for w in *words {
                payload.extend(w.to_le_bytes());
            }
        }
        data.extend(payload);
        data
    }

    #[test]
    fn static_binary() {
        let info = parse(&elf64(62, &[(1, &[])])).unwrap();
        assert_eq!(info.linkage, Linkage::Static);
        assert_eq!(info.machine, 62);
        assert!(info.is_64);
    }

    #[test]
    fn static_pie_binary() {
        let info = parse(&elf64(183, &[(1, &[]), (PT_DYNAMIC, &[30, 8, 0, 0])])).unwrap();
        assert_eq!(info.linkage, Linkage::StaticPie);
        assert_eq!(info.machine, 183);
    }

    #[test]
    fn dynamic_binaries() {
        let needed = parse(&elf64(62, &[(PT_DYNAMIC, &[DT_NEEDED, 1, 0, 0])])).unwrap();
        assert_eq!(needed.linkage, Linkage::Dynamic);
        let interp = parse(&elf64(62, &[(PT_INTERP, &[0])])).unwrap();
        assert_eq!(interp.linkage, Linkage::Dynamic);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"").is_err());
        assert!(parse(b"#!/bin/sh\n").is_err());
        let mut truncated = elf64(62, &[(1, &[])]);
        truncated.truncate(80);
        assert!(parse(&truncated).is_err());
        let mut huge = elf64(62, &[(1, &[])]);
        huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&huge).is_err());
    }

    #[test]
    fn real_host_binary_is_dynamic() {
        let data = std::fs::read("/bin/true").unwrap();
        assert_eq!(parse(&data).unwrap().linkage, Linkage::Dynamic);
    }
}
