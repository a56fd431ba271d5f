#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target under fuzz/seeds/TARGET/ from files in the
repository. Run from the repository root after adding captures or fixtures:
python3 fuzz/seeds/make_seeds.py

- advert: every VRRP packet of the keepalived captures in daemon/tests/data/captures/, in the
  input format of fuzz_targets/advert.rs (a flags byte, then the IPv4 datagram, or IPv6
  source, destination, hop limit and payload);
- keepalived_conf / native_toml: every keepalived.conf / vipd.toml fixture and example;
- sha256sums: SHA256SUMS texts (valid and broken);
- control_request: the request and a few near misses;
- bake_inspect: tiny sysext images made with mksquashfs (gzip, zstd and uncompressed), holding
  what `bake inspect` looks for and a fake static ELF."""
import hashlib
import pathlib
import struct

CAPTURES = pathlib.Path("daemon/tests/data/captures")
SEEDS = pathlib.Path("fuzz/seeds")
CONFIG_DIRS = ["daemon/tests/fixtures", "examples", "butane/examples", "bakery/recipes",
               "daemon/tests/data/captures"]


def frames(pcap):
    data = pcap.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4 and linktype == 1, f"{pcap}: not a little-endian Ethernet pcap"
    at = 24
    while at + 16 <= len(data):
        _, _, caplen, _ = struct.unpack("<IIII", data[at:at + 16])
        yield data[at + 16:at + 16 + caplen]
        at += 16 + caplen


def seeds():
    for pcap in sorted(CAPTURES.glob("*.pcap")):
        for frame in frames(pcap):
            ethertype = struct.unpack(">H", frame[12:14])[0]
            ip = frame[14:]
            if ethertype == 0x0800 and ip[9] == 112:
                total = struct.unpack(">H", ip[2:4])[0]
                datagram = ip[:total]
                yield bytes([0]) + datagram
                # The same datagram through the unicast path (no hop-limit check).
                yield bytes([4]) + datagram
            elif ethertype == 0x86DD and ip[6] == 112:
                length = struct.unpack(">H", ip[4:6])[0]
                payload = ip[40:40 + length]
                yield bytes([1]) + ip[8:24] + ip[24:40] + ip[7:8] + payload


def config_files(suffix):
    for top in CONFIG_DIRS:
        for path in sorted(pathlib.Path(top).rglob(f"*{suffix}")):
            yield path.read_bytes()


def sums():
    h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    yield f"{h}  vipd-1.0.0-x86-64.raw\n{h} *vipd-1.1.0-arm64.raw\n".encode()
    yield f"{h}  vipd-1.0.0-x86-64.raw\n".encode()
    yield f"{h}  vipd-1.0.0-x86-64.raw".encode()
    yield f"{h.upper()}  a\n".encode()
    yield b""


def requests():
    yield from [b"status\n", b" status \r\n", b"status", b"stat\n", b"status\nstatus\n"]


def images():
    import subprocess
    import tempfile
    elf = bytearray(64)
    elf[:6] = b"\x7fELF\x02\x01"
    elf[18:20] = (62).to_bytes(2, "little")
    files = {
        "usr/bin/vipd": bytes(elf),
        "usr/lib/systemd/system/vipd.service": b"[Service]\n",
        "usr/lib/systemd/system/multi-user.target.d/10-vipd.conf":
            b"[Unit]\nUpholds=vipd.service\n",
        "usr/lib/sysupdate.vipd.d/vipd.conf": b"[Transfer]\n",
        "usr/lib/extension-release.d/extension-release.vipd":
            b"ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n",
    }
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp) / "tree"
        for path, data in files.items():
            (tree / path).parent.mkdir(parents=True, exist_ok=True)
            (tree / path).write_bytes(data)
        for options in (["-comp", "gzip"], ["-comp", "zstd"], ["-noI", "-noD", "-noF", "-noX"]):
            image = pathlib.Path(tmp) / "vipd.raw"
            subprocess.run(["mksquashfs", str(tree), str(image), "-noappend", "-all-root",
                            "-quiet", "-no-progress", "-mkfs-time", "0", "-all-time", "0",
                            *options], check=True, stdout=subprocess.DEVNULL)
            yield image.read_bytes()


def write(target, items):
    out = SEEDS / target
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    names = set()
    for item in items:
        name = hashlib.sha1(item).hexdigest()
        (out / name).write_bytes(item)
        names.add(name)
    print(f"{target}: {len(names)} seeds")


def main():
    import os
    write("advert", seeds())
    write("keepalived_conf", config_files(".conf"))
    write("native_toml", config_files(".toml"))
    write("sha256sums", sums())
    write("control_request", requests())
    write("bake_inspect", images())


if __name__ == "__main__":
    main()
