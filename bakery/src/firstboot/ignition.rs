//! Butane -> Ignition, following Butane's translation rules for the fields the templates use:
//! inline text becomes a data URL (percent-encoded, base64, or gzip+base64 with
//! `compression: "gzip"`, whichever is shortest; `compression: ""` when none was asked for),
//! modes stay integers (0644 = 420), links and units are copied. Flatcar Butane 1.0.0 gives
//! Ignition 3.3.0, 1.1.0 gives 3.4.0; both are built with `ignition-config`'s typed structs.

use super::butane;
use crate::{err, Result};
use base64::Engine as _;
use flate2::{write::GzEncoder, Compression};
use std::io::Write;

/// The Ignition spec a Flatcar Butane version translates to.
pub fn ignition_version(butane_version: &str) -> Result<&'static str> {
    match butane_version {
        "1.0.0" => Ok("3.3.0"),
        "1.1.0" => Ok("3.4.0"),
        v => Err(err!(
            "Butane flatcar version {v:?} is not supported: use 1.0.0 (Ignition 3.3.0) or 1.1.0 (Ignition 3.4.0)"
        )),
    }
}

/// A `data:` URL for `contents` and the compression to declare with it.
pub fn data_url(contents: &[u8]) -> (String, Option<String>) {
    let percent = format!("data:,{}", percent_encode(contents));
    let base64 = format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(contents)
    );
    let mut best = if base64.len() < percent.len() {
        base64
    } else {
        percent
    };
    let mut compression = String::new();
    if let Some(gz) = gzip(contents) {
        let gz = format!(
            "data:;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(gz)
        );
        if gz.len() < best.len() {
            best = gz;
            compression = "gzip".into();
        }
    }
    (best, Some(compression))
}

fn gzip(contents: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(contents).ok()?;
    encoder.finish().ok()
}

/// Everything but RFC 3986 unreserved characters as `%XX`.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds the typed config of one `ignition_config` spec module from the Butane model.
macro_rules! translate_to {
    ($spec:ident, $config:expr) => {{
        use ignition_config::$spec as ign;
        let config: &butane::Config = $config;
        let files: Vec<ign::File> = config
            .storage
            .files
            .iter()
            .map(|f| {
                let (source, compression) = match (&f.contents.source, &f.contents.inline) {
                    (_, Some(text)) => {
                        let (url, default_compression) = data_url(text.as_bytes());
                        (
                            Some(url),
                            f.contents.compression.clone().or(default_compression),
                        )
                    }
                    (source, None) => (source.clone(), f.contents.compression.clone()),
                };
                let mut file = ign::File::new(f.path.clone());
                file.mode = f.mode.map(i64::from);
                file.contents = Some(ign::Resource {
                    compression,
                    http_headers: None,
                    source,
                    verification: f.contents.verification.as_ref().map(|v| ign::Verification {
                        hash: Some(v.hash.clone()),
                    }),
                });
                file
            })
            .collect();
        let links: Vec<ign::Link> = config
            .storage
            .links
            .iter()
            .map(|l| {
                let mut link = ign::Link::new(l.path.clone());
                link.target = Some(l.target.clone());
                link.hard = l.hard;
                link
            })
            .collect();
        let units: Vec<ign::Unit> = config
            .systemd
            .units
            .iter()
            .map(|u| {
                let mut unit = ign::Unit::new(u.name.clone());
                unit.enabled = u.enabled;
                unit.contents = u.contents.clone();
                if !u.dropins.is_empty() {
                    unit.dropins = Some(
                        u.dropins
                            .iter()
                            .map(|d| {
                                let mut dropin = ign::Dropin::new(d.name.clone());
                                dropin.contents = Some(d.contents.clone());
                                dropin
                            })
                            .collect(),
                    );
                }
                unit
            })
            .collect();
        // `default()` carries the module's spec version.
        let mut out = ign::Config::default();
        if !files.is_empty() || !links.is_empty() {
            out.storage = Some(ign::Storage {
                files: (!files.is_empty()).then_some(files),
                links: (!links.is_empty()).then_some(links),
                ..Default::default()
            });
        }
        if !units.is_empty() {
            out.systemd = Some(ign::Systemd { units: Some(units) });
        }
        serde_json::to_value(&out)
    }};
}

/// The Ignition JSON for a Butane config (its `version` picks the spec), pretty-printed, with
/// unset fields left out as Butane does.
pub fn translate(config: &butane::Config) -> Result<String> {
    if config.variant != "flatcar" {
        return Err(err!(
            "Butane variant {:?} is not supported: use flatcar",
            config.variant
        ));
    }
    config.check().map_err(|e| err!("{e}"))?;
    let version = ignition_version(&config.version)?;
    let value = match version {
        "3.3.0" => translate_to!(v3_3, config),
        _ => translate_to!(v3_4, config),
    }
    .map_err(|e| err!("cannot serialize the Ignition config: {e}"))?;
    let mut text = serde_json::to_string_pretty(&drop_nulls(value))
        .map_err(|e| err!("cannot serialize the Ignition config: {e}"))?;
    text.push('\n');
    Ok(text)
}

/// `ignition-config` serializes unset optional fields as `null`; Butane omits them.
fn drop_nulls(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, drop_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(drop_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decode(url: &str, compression: &str) -> Vec<u8> {
        let raw = if let Some(b64) = url.strip_prefix("data:;base64,") {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
        } else {
            let pct = url.strip_prefix("data:,").unwrap().as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < pct.len() {
                if pct[i] == b'%' {
                    let hex = std::str::from_utf8(&pct[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    out.push(pct[i]);
                    i += 1;
                }
            }
            out
        };
        if compression == "gzip" {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            raw
        }
    }

    #[test]
    fn data_urls_round_trip_and_pick_the_shortest() {
        let short = b"hello\n";
        let (url, c) = data_url(short);
        assert_eq!(url, "data:,hello%0A");
        assert_eq!(c.as_deref(), Some(""));
        let long = "vrrp_instance VI_1 { interface eth0 }\n".repeat(40);
        let (url, c) = data_url(long.as_bytes());
        assert_eq!(c.as_deref(), Some("gzip"));
        assert_eq!(decode(&url, "gzip"), long.as_bytes());
        let binary: Vec<u8> = (0u8..=255).collect();
        let (url, c) = data_url(&binary);
        assert!(url.starts_with("data:;base64,"), "{url}");
        assert_eq!(decode(&url, c.as_deref().unwrap()), binary);
    }

    #[test]
    fn versions() {
        assert_eq!(ignition_version("1.0.0").unwrap(), "3.3.0");
        assert_eq!(ignition_version("1.1.0").unwrap(), "3.4.0");
        assert!(ignition_version("1.2.0").is_err());
    }
}
