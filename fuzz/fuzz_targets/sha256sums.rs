//! SHA256SUMS text as bake and `bake list` read it from a release directory or server; an
//! accepted manifest renders to text that parses to the same entries.
#![no_main]

use bake_parts::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::parse("SHA256SUMS", text) else {
        return;
    };
    let rendered = manifest.render();
    let again = Manifest::parse("rendered", &rendered)
        .unwrap_or_else(|e| panic!("rendered manifest refused: {e}\n{rendered}"));
    assert_eq!(again, manifest);
});
