//! `bake inspect` on arbitrary bytes as an image: an error or a report, never a panic, a hang
//! or unbounded memory.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bake_parts::inspect::inspect_reader(Cursor::new(data), "fuzz.raw", "vipd-1.0.0-x86-64.raw");
});
