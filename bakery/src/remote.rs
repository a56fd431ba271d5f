//! `bake list`: the versions and architectures a release location offers, from its SHA256SUMS.

use crate::manifest::Manifest;
use crate::names::{compare_versions, parse_image_file_name, validate_base_url, Arch};
use crate::signing::Keyring;
use crate::{err, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

/// Version -> architectures with an image.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Available {
    pub versions: Vec<(String, Vec<Arch>)>,
}

impl Available {
    pub fn from_manifest(name: &str, manifest: &Manifest) -> Available {
        let mut map: BTreeMap<String, Vec<Arch>> = BTreeMap::new();
        for file in manifest.entries.keys() {
            if let Some((version, arch)) = parse_image_file_name(name, file) {
                let arches = map.entry(version.to_string()).or_default();
                arches.push(arch);
                arches.sort();
            }
        }
        let mut versions: Vec<(String, Vec<Arch>)> = map.into_iter().collect();
        versions.sort_by(|a, b| compare_versions(&a.0, &b.0));
        Available { versions }
    }

    /// One line per version, newest last: `VERSION  x86-64 arm64`.
    pub fn render(&self) -> String {
        let width = self
            .versions
            .iter()
            .map(|(v, _)| v.len())
            .max()
            .unwrap_or(0)
            .max("VERSION".len());
        let mut out = format!("{:width$}  ARCHITECTURES\n", "VERSION");
        for (version, arches) in &self.versions {
            let arches: Vec<&str> = arches.iter().map(|a| a.systemd_name()).collect();
            out.push_str(&format!("{version:width$}  {}\n", arches.join(" ")));
        }
        out
    }
}

/// `BASE/SHA256SUMS`, with exactly one slash in between.
pub fn manifest_url(base_url: &str) -> String {
    format!("{}/SHA256SUMS", base_url.trim_end_matches('/'))
}

/// `BASE/SHA256SUMS.gpg`, the detached signature systemd-sysupdate checks with `Verify=yes`.
pub fn signature_url(base_url: &str) -> String {
    format!("{}.gpg", manifest_url(base_url))
}

/// systemd-pull refuses a SHA256SUMS or signature above 1 MiB; so does bake.
const MAX_MANIFEST: u64 = 1 << 20;

/// Downloads and parses `BASE/SHA256SUMS`. With `keyring`, `BASE/SHA256SUMS.gpg` must be a
/// signature over it by one of the keyring's keys (as systemd-sysupdate's gpg checks it),
/// else nothing is believed. `allow_http`: `--insecure-http`.
pub fn fetch_manifest(
    base_url: &str,
    allow_http: bool,
    keyring: Option<&Keyring>,
) -> Result<Manifest> {
    validate_base_url(base_url, allow_http)?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        // No downgrade through a redirect.
        .https_only(!allow_http)
        .build()
        .map_err(|e| err!("cannot set up HTTP client: {e}"))?;
    let url = manifest_url(base_url);
    let sums = fetch(&client, &url)?
        .ok_or_else(|| err!("GET {url}: HTTP 404 Not Found: no release published there?"))?;
    if let Some(keyring) = keyring {
        let sig_url = signature_url(base_url);
        let signature = fetch(&client, &sig_url)?.ok_or_else(|| {
            err!("GET {sig_url}: HTTP 404 Not Found: the release is not signed (nodes with Verify=yes refuse it)")
        })?;
        keyring.verify(&sig_url, &sums, &signature)?;
    }
    let text = String::from_utf8(sums).map_err(|_| err!("{url}: not UTF-8 text"))?;
    Manifest::parse(&url, &text)
}

/// `error` and what caused it (reqwest's own message names no cause: "error sending request
/// for url"), e.g. `...: client error (Connect): tcp connect error: Connection refused`.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = inner.source();
    }
    text
}

/// The body of `url`, None on 404; at most [`MAX_MANIFEST`] bytes.
fn fetch(client: &reqwest::blocking::Client, url: &str) -> Result<Option<Vec<u8>>> {
    let response = client
        .get(url)
        .send()
        .map_err(|e| err!("GET {url}: {}", with_causes(&e)))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(err!("GET {url}: HTTP {status}"));
    }
    let mut body = Vec::new();
    response
        .take(MAX_MANIFEST + 1)
        .read_to_end(&mut body)
        .map_err(|e| err!("GET {url}: cannot read body: {e}"))?;
    if body.len() as u64 > MAX_MANIFEST {
        return Err(err!("GET {url}: larger than 1 MiB"));
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_versions_and_arches() {
        let h = "0".repeat(64);
        let text = format!(
            "{h}  vipd-1.10-x86-64.raw\n{h}  vipd-1.9-arm64.raw\n{h}  vipd-1.9-x86-64.raw\n{h}  vipd.conf\n{h}  other-1-arm64.raw\n"
        );
        let m = Manifest::parse("t", &text).unwrap();
        let a = Available::from_manifest("vipd", &m);
        assert_eq!(
            a.versions,
            vec![
                ("1.9".to_string(), vec![Arch::X86_64, Arch::Arm64]),
                ("1.10".to_string(), vec![Arch::X86_64]),
            ]
        );
        assert_eq!(
            a.render(),
            "VERSION  ARCHITECTURES\n1.9      x86-64 arm64\n1.10     x86-64\n"
        );
        assert_eq!(manifest_url("http://h/x/"), "http://h/x/SHA256SUMS");
        assert_eq!(manifest_url("http://h/x"), "http://h/x/SHA256SUMS");
    }
}
