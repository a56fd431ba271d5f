//! The control socket's request format, parsed by one pure function ([`parse_request`]) so it
//! can be unit tested and fuzzed without a daemon.
//!
//! A client sends one request line (at most [`MAX_REQUEST_BYTES`] including the newline) and
//! reads the reply until the daemon closes the connection. The line is either the word
//! `status` (what earlier vipd clients send) or a JSON object:
//!
//! ```text
//! {"request":"status"}
//! {"request":"events","snapshot":true}
//! {"request":"drain","instances":["VI_1"],"hard":false}
//! {"request":"drain","all":true}
//! {"request":"resume","instances":["VI_1"]}
//! {"request":"resume","all":true}
//! {"request":"reload"}
//! ```
//!
//! Replies are JSON: `status` answers with the status report itself; `events` with a
//! [`Hello`] line followed by one event per line; changes with a [`ChangeReply`]; anything
//! refused with an [`ErrorReply`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::StatusReport;
use crate::vrrp::instance::DrainMode;

/// Longest request line accepted, newline included.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// Longest instance name accepted in a request (keepalived allows far less in practice).
pub const MAX_NAME_BYTES: usize = 255;
/// Most instance names in one request.
pub const MAX_NAMES: usize = 256;

/// Which instances a drain or resume applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    All,
    /// Named instances: non-empty, no duplicates, in the order given.
    Instances(Vec<String>),
}

/// One parsed, validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Status,
    /// Follow the event stream; with `snapshot`, the first reply line carries the status at
    /// the moment the stream starts.
    Events {
        snapshot: bool,
    },
    Drain {
        target: Target,
        mode: DrainMode,
    },
    Resume {
        target: Target,
    },
    Reload,
}

impl Request {
    /// Requests that change the daemon (only root and the control group may send them).
    pub fn changes_state(&self) -> bool {
        matches!(
            self,
            Request::Drain { .. } | Request::Resume { .. } | Request::Reload
        )
    }

    /// The JSON line a client sends for this request.
    pub fn to_line(&self) -> String {
        let wire = match self {
            Request::Status => WireRequest::named("status"),
            Request::Events { snapshot } => WireRequest {
                snapshot: Some(*snapshot),
                ..WireRequest::named("events")
            },
            Request::Drain { target, mode } => WireRequest {
                hard: Some(*mode == DrainMode::Hard),
                ..WireRequest::targeted("drain", target)
            },
            Request::Resume { target } => WireRequest::targeted("resume", target),
            Request::Reload => WireRequest::named("reload"),
        };
        let mut line = serde_json::to_string(&wire).unwrap_or_default();
        line.push('\n');
        line
    }
}

/// Why a request line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// Longer than [`MAX_REQUEST_BYTES`] without a newline.
    TooLong,
    Empty,
    NotUtf8,
    /// Not `status` and not a JSON request object.
    Malformed(String),
    /// Well-formed JSON that does not make a valid request.
    Invalid(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::TooLong => {
                write!(f, "request longer than {MAX_REQUEST_BYTES} bytes")
            }
            ProtocolError::Empty => write!(f, "empty request"),
            ProtocolError::NotUtf8 => write!(f, "request is not UTF-8"),
            ProtocolError::Malformed(e) => write!(f, "malformed request: {e}"),
            ProtocolError::Invalid(e) => write!(f, "invalid request: {e}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// The request as it travels: one flat object, checked by [`parse_request`].
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRequest {
    request: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instances: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hard: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snapshot: Option<bool>,
}

impl WireRequest {
    fn named(request: &str) -> WireRequest {
        WireRequest {
            request: request.to_string(),
            ..WireRequest::default()
        }
    }

    fn targeted(request: &str, target: &Target) -> WireRequest {
        match target {
            Target::All => WireRequest {
                all: Some(true),
                ..WireRequest::named(request)
            },
            Target::Instances(names) => WireRequest {
                instances: Some(names.clone()),
                ..WireRequest::named(request)
            },
        }
    }
}

/// Parses one request line: `bytes` is what the client sent up to and including the first
/// newline (or everything, when it closed without one). Never panics; every input that is
/// not a valid request is an error.
pub fn parse_request(bytes: &[u8]) -> Result<Request, ProtocolError> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(ProtocolError::TooLong);
    }
    let line = match bytes.iter().position(|&b| b == b'\n') {
        Some(end) if end + 1 == bytes.len() => &bytes[..end],
        Some(_) => {
            return Err(ProtocolError::Malformed(
                "one request per connection (bytes after the newline)".into(),
            ))
        }
        None => bytes,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|_| ProtocolError::NotUtf8)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(ProtocolError::Empty);
    }
    if text == "status" {
        return Ok(Request::Status);
    }
    if !text.starts_with('{') {
        return Err(ProtocolError::Malformed(
            "expected `status` or a JSON object".into(),
        ));
    }
    let wire: WireRequest =
        serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    let allow = |fields: &[&str]| -> Result<(), ProtocolError> {
        let given = [
            ("instances", wire.instances.is_some()),
            ("all", wire.all.is_some()),
            ("hard", wire.hard.is_some()),
            ("snapshot", wire.snapshot.is_some()),
        ];
        match given
            .iter()
            .find(|(name, present)| *present && !fields.contains(name))
        {
            Some((name, _)) => Err(ProtocolError::Invalid(format!(
                "`{}` does not take `{name}`",
                wire.request
            ))),
            None => Ok(()),
        }
    };
    match wire.request.as_str() {
        "status" => {
            allow(&[])?;
            Ok(Request::Status)
        }
        "events" => {
            allow(&["snapshot"])?;
            Ok(Request::Events {
                snapshot: wire.snapshot.unwrap_or(false),
            })
        }
        "drain" => {
            allow(&["instances", "all", "hard"])?;
            let mode = if wire.hard.unwrap_or(false) {
                DrainMode::Hard
            } else {
                DrainMode::Soft
            };
            Ok(Request::Drain {
                target: target(wire.instances, wire.all)?,
                mode,
            })
        }
        "resume" => {
            allow(&["instances", "all"])?;
            Ok(Request::Resume {
                target: target(wire.instances, wire.all)?,
            })
        }
        "reload" => {
            allow(&[])?;
            Ok(Request::Reload)
        }
        other => Err(ProtocolError::Invalid(format!(
            "unknown request {:?} (want status, events, drain, resume or reload)",
            truncate(other, 40)
        ))),
    }
}

fn target(instances: Option<Vec<String>>, all: Option<bool>) -> Result<Target, ProtocolError> {
    match (instances, all.unwrap_or(false)) {
        (Some(_), true) => Err(ProtocolError::Invalid(
            "give either instance names or `all`, not both".into(),
        )),
        (None, true) => Ok(Target::All),
        (None, false) => Err(ProtocolError::Invalid(
            "name the instances or give `all`".into(),
        )),
        (Some(names), false) => {
            if names.is_empty() {
                return Err(ProtocolError::Invalid("no instance named".into()));
            }
            if names.len() > MAX_NAMES {
                return Err(ProtocolError::Invalid(format!(
                    "more than {MAX_NAMES} instances"
                )));
            }
            let mut unique: Vec<String> = Vec::with_capacity(names.len());
            for name in names {
                if name.is_empty() || name.len() > MAX_NAME_BYTES {
                    return Err(ProtocolError::Invalid(format!(
                        "instance names are 1 to {MAX_NAME_BYTES} bytes"
                    )));
                }
                if name.chars().any(char::is_control) {
                    return Err(ProtocolError::Invalid(
                        "instance names have no control characters".into(),
                    ));
                }
                if !unique.contains(&name) {
                    unique.push(name);
                }
            }
            Ok(Target::Instances(unique))
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// First line of the reply to an `events` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Sequence number of the last event before the stream starts; the next one is `seq + 1`.
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusReport>,
}

/// Reply to a drain, resume or reload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeReply {
    pub ok: bool,
    /// What was done, one line per instance (or for the reload).
    pub message: String,
    /// The instances the request applied to.
    #[serde(default)]
    pub instances: Vec<String>,
}

/// Reply to anything refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: String,
}

impl ErrorReply {
    pub fn line(message: impl Into<String>) -> Vec<u8> {
        let mut line = serde_json::to_vec(&ErrorReply {
            error: message.into(),
        })
        .unwrap_or_default();
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Target {
        Target::Instances(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn every_request_round_trips_through_its_line() {
        let requests = [
            Request::Status,
            Request::Events { snapshot: true },
            Request::Events { snapshot: false },
            Request::Drain {
                target: names(&["VI_1", "VI 2"]),
                mode: DrainMode::Soft,
            },
            Request::Drain {
                target: Target::All,
                mode: DrainMode::Hard,
            },
            Request::Resume {
                target: names(&["VI_1"]),
            },
            Request::Resume {
                target: Target::All,
            },
            Request::Reload,
        ];
        for request in requests {
            let line = request.to_line();
            assert!(line.ends_with('\n') && line.len() < MAX_REQUEST_BYTES);
            assert_eq!(parse_request(line.as_bytes()), Ok(request), "{line}");
        }
    }

    #[test]
    fn the_bare_status_word_of_earlier_clients_is_accepted() {
        assert_eq!(parse_request(b"status\n"), Ok(Request::Status));
        assert_eq!(parse_request(b"status\r\n"), Ok(Request::Status));
        assert_eq!(parse_request(b"  status"), Ok(Request::Status));
    }

    #[test]
    fn only_changes_need_the_right_to_change() {
        assert!(!Request::Status.changes_state());
        assert!(!Request::Events { snapshot: false }.changes_state());
        assert!(Request::Reload.changes_state());
        assert!(Request::Resume {
            target: Target::All
        }
        .changes_state());
    }

    #[test]
    fn duplicate_names_collapse_in_order() {
        assert_eq!(
            parse_request(br#"{"request":"drain","instances":["b","a","b"]}"#),
            Ok(Request::Drain {
                target: names(&["b", "a"]),
                mode: DrainMode::Soft
            })
        );
    }

    #[test]
    fn bad_requests_are_errors_with_a_reason() {
        let long = vec![b'x'; MAX_REQUEST_BYTES + 1];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (long, "longer than"),
            (b"".to_vec(), "empty"),
            (b"\n".to_vec(), "empty"),
            (b"\xff\xfe\n".to_vec(), "UTF-8"),
            (b"drain VI_1\n".to_vec(), "expected `status`"),
            (
                b"{\"request\":\"status\"}\nstatus\n".to_vec(),
                "one request",
            ),
            (b"{\"request\":".to_vec(), "malformed"),
            (
                b"{\"request\":\"status\",\"x\":1}".to_vec(),
                "unknown field",
            ),
            (b"{\"request\":\"nuke\"}".to_vec(), "unknown request"),
            (b"{\"request\":\"drain\"}".to_vec(), "name the instances"),
            (
                b"{\"request\":\"drain\",\"all\":true,\"instances\":[\"a\"]}".to_vec(),
                "not both",
            ),
            (
                b"{\"request\":\"drain\",\"instances\":[]}".to_vec(),
                "no instance",
            ),
            (
                b"{\"request\":\"drain\",\"instances\":[\"\"]}".to_vec(),
                "1 to 255",
            ),
            (
                b"{\"request\":\"drain\",\"instances\":[\"a\\nb\"]}".to_vec(),
                "control characters",
            ),
            (
                b"{\"request\":\"resume\",\"all\":true,\"hard\":true}".to_vec(),
                "does not take `hard`",
            ),
            (
                b"{\"request\":\"status\",\"snapshot\":true}".to_vec(),
                "does not take `snapshot`",
            ),
            (
                b"{\"request\":\"drain\",\"instances\":\"VI_1\"}".to_vec(),
                "malformed",
            ),
        ];
        for (bytes, wanted) in cases {
            let error = parse_request(&bytes).expect_err(&String::from_utf8_lossy(&bytes));
            assert!(
                error.to_string().contains(wanted),
                "{:?}: {error} should mention {wanted:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn too_many_names_are_refused() {
        let list: Vec<String> = (0..=MAX_NAMES).map(|i| format!("\"i{i}\"")).collect();
        let line = format!(r#"{{"request":"drain","instances":[{}]}}"#, list.join(","));
        assert!(line.len() < MAX_REQUEST_BYTES);
        let error = parse_request(line.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("more than"), "{error}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator: the fuzz target (fuzz/) explores much further.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet =
            br#"{}[]":,\ statusdrainresumeeventsreloadinstancesallhardsnapshottruefalse0123456789"#;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    let pick = (state >> (i % 56)) as usize;
                    if pick % 7 == 0 {
                        (pick % 256) as u8
                    } else {
                        alphabet[pick % alphabet.len()]
                    }
                })
                .collect();
            let _ = parse_request(&bytes);
        }
    }
}
