//! keepalived's line-level configuration language, applied before a line is split into
//! words: `@ID` / `@^ID` conditional lines, `$NAME=value` definitions (also multiline),
//! `$NAME` / `${NAME}` substitution with the built-in `${_PWD}`, `${_INSTANCE}`,
//! `${_RANDOM [MIN [MAX]]}`, `${_HASH}`, `${_BANG}`, and `~SEQ(...)` / `~SEQx(...)` /
//! `~LST(...)` repetition. The rules follow keepalived.conf(5) of 2.2.7 and what
//! `keepalived -t` 2.2.7 does where the manual is silent.

use std::collections::HashMap;

/// Longest line substitution may produce (keepalived also refuses lines that would exceed
/// its maximum).
pub const MAX_LINE: usize = 64 * 1024;

/// Rounds of substitution on one line before it is taken for a definition that refers to
/// itself.
pub const MAX_ROUNDS: usize = 64;

/// What a line starting with `@` says about the config id.
#[derive(Debug, PartialEq, Eq)]
pub enum Condition<'a> {
    /// Not a conditional line.
    None,
    /// The rest of the line applies on this host.
    Selected(&'a str),
    /// The line is for another host.
    Skipped,
}

/// `@ID rest` applies when ID is the config id, `@^ID rest` when it is not.
pub fn condition<'a>(line: &'a str, config_id: &str) -> Condition<'a> {
    let Some(after) = line.strip_prefix('@') else {
        return Condition::None;
    };
    let (negated, after) = match after.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    let end = after.find(char::is_whitespace).unwrap_or(after.len());
    let (id, rest) = after.split_at(end);
    if (id == config_id) != negated {
        Condition::Selected(rest.trim_start())
    } else {
        Condition::Skipped
    }
}

/// `$NAME=value`: the name and the value (trimmed), when `line` is a definition.
pub fn definition(line: &str) -> Option<(&str, &str)> {
    let after = line.strip_prefix('$')?;
    let end = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    let (name, rest) = after.split_at(end);
    let value = rest.strip_prefix('=')?;
    if !is_name(name) {
        return None;
    }
    Some((name, value.trim()))
}

/// A parameter name: letters, digits and `_`, not starting with a digit.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where substitution gets the values of names.
pub struct Scope<'a> {
    /// User definitions; a multiline value is its lines joined with `\n`.
    pub definitions: &'a HashMap<String, String>,
    /// `${_PWD}`: directory of the file being read.
    pub pwd: &'a str,
    /// `${_INSTANCE}`: the config id.
    pub instance: &'a str,
    /// State of the generator behind `${_RANDOM}`.
    pub random: &'a mut u64,
}

impl Scope<'_> {
    fn value(&mut self, inside: &str) -> Result<Option<String>, String> {
        let mut words = inside.split_whitespace();
        let name = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        if name == "_RANDOM" {
            return self.random_value(&args).map(Some);
        }
        if !args.is_empty() {
            return Ok(None);
        }
        Ok(match name {
            "_PWD" => Some(self.pwd.to_string()),
            "_INSTANCE" => Some(self.instance.to_string()),
            "_HASH" => Some("#".to_string()),
            "_BANG" => Some("!".to_string()),
            _ => self.definitions.get(name).cloned(),
        })
    }

    fn random_value(&mut self, args: &[&str]) -> Result<String, String> {
        let number = |text: &str| {
            text.parse::<u64>()
                .map_err(|_| format!("`${{_RANDOM}}`: `{text}` is not a non-negative integer"))
        };
        let (min, max) = match args {
            [] => (0, 32767),
            [min] => (number(min)?, 32767),
            [min, max] => (number(min)?, number(max)?),
            _ => return Err("`${_RANDOM}` takes at most MIN and MAX".to_string()),
        };
        if min > max {
            return Err(format!("`${{_RANDOM {min} {max}}}`: MIN is above MAX"));
        }
        // xorshift64: good enough to spread start-up values, as keepalived's random().
        let mut x = *self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *self.random = x;
        let span = max - min + 1;
        Ok((min + x % span.max(1)).to_string())
    }
}

/// One round of substitution: every `${NAME}`, and every `$NAME` followed by whitespace or
/// the end of the line, whose NAME is defined (or built in) is replaced by its value.
/// Undefined names stay as written, so a `$` in a script is left alone. `None` when
/// nothing was replaced.
pub fn substitute(line: &str, scope: &mut Scope<'_>) -> Result<Option<String>, String> {
    let mut out = String::with_capacity(line.len());
    let mut changed = false;
    let mut rest = line;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(inside_and_more) = after.strip_prefix('{') {
            if let Some(close) = inside_and_more.find('}') {
                let inside = &inside_and_more[..close];
                if let Some(value) = scope.value(inside)? {
                    out.push_str(&value);
                    changed = true;
                    rest = &inside_and_more[close + 1..];
                    continue;
                }
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let (name, tail) = after.split_at(end);
            let ends_word = tail.is_empty() || tail.starts_with(char::is_whitespace);
            if is_name(name) && ends_word {
                if let Some(value) = scope.value(name)? {
                    out.push_str(&value);
                    changed = true;
                    rest = tail;
                    continue;
                }
            }
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    if out.len() > MAX_LINE {
        return Err(format!(
            "parameter substitution makes a line longer than {MAX_LINE} bytes"
        ));
    }
    Ok(changed.then_some(out))
}

/// A `~SEQ(...)`, `~SEQx(...)` or `~LST(...)` at the start of a line: the names to set, one
/// row of values per repetition, and the rest of the line to repeat.
#[derive(Debug, PartialEq, Eq)]
pub struct Repeat<'a> {
    pub names: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub rest: &'a str,
}

/// Upper bound on repetitions of one `~SEQ`/`~LST`, to keep a typo from running away.
const MAX_REPEAT: usize = 100_000;

/// `Ok(None)` when `line` does not start with `~SEQ(`, `~SEQx(` or `~LST(`.
pub fn repeat(line: &str) -> Result<Option<Repeat<'_>>, String> {
    if let Some(after) = line.strip_prefix("~SEQx(") {
        sequence(after, true).map(Some)
    } else if let Some(after) = line.strip_prefix("~SEQ(") {
        sequence(after, false).map(Some)
    } else if let Some(after) = line.strip_prefix("~LST(") {
        list(after).map(Some)
    } else {
        Ok(None)
    }
}

/// `~SEQ(var, end)`, `~SEQ(var, start, end)` or `~SEQ(var, start, step, end)`.
fn sequence(after: &str, hex: bool) -> Result<Repeat<'_>, String> {
    let close = after
        .find(')')
        .ok_or_else(|| format!("`~SEQ({after}`: no closing `)`"))?;
    let parts: Vec<&str> = after[..close].split(',').map(str::trim).collect();
    let rest = after[close + 1..].trim_start();
    let invalid = || format!("invalid ~SEQ specification `~SEQ({})`", &after[..close]);
    let number = |text: &str| -> Result<i64, String> {
        let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex_digits) => i64::from_str_radix(hex_digits, 16),
            None => text.parse::<i64>(),
        };
        parsed.map_err(|_| invalid())
    };
    let (name, start, step, end) = match parts.as_slice() {
        [name, end] => {
            let end = number(end)?;
            (*name, if end < 0 { -1 } else { 1 }, None, end)
        }
        [name, start, end] => (*name, number(start)?, None, number(end)?),
        [name, start, step, end] => (*name, number(start)?, Some(number(step)?), number(end)?),
        _ => return Err(invalid()),
    };
    if !is_name(name) {
        return Err(invalid());
    }
    let step = step.unwrap_or(if end < start { -1 } else { 1 });
    if step == 0 || (step > 0 && end < start) || (step < 0 && end > start) {
        return Err(invalid());
    }
    if hex && (start < 0 || end < 0) {
        return Err(format!(
            "~SEQx is only valid for positive numbers `~SEQx({})`",
            &after[..close]
        ));
    }
    let mut rows = Vec::new();
    let mut value = start;
    while (step > 0 && value <= end) || (step < 0 && value >= end) {
        if rows.len() >= MAX_REPEAT {
            return Err(format!("~SEQ repeats more than {MAX_REPEAT} times"));
        }
        rows.push(vec![if hex {
            format!("{value:x}")
        } else {
            value.to_string()
        }]);
        value = match value.checked_add(step) {
            Some(v) => v,
            None => break,
        };
    }
    Ok(Repeat {
        names: vec![name.to_string()],
        rows,
        rest,
    })
}

/// `~LST(var, v1, v2, ...)` or `~LST({a, b}, {1, 2}, {3, 4})`.
fn list(after: &str) -> Result<Repeat<'_>, String> {
    let invalid = || "invalid ~LST specification".to_string();
    // The spec ends at the first `)` outside `{ }`.
    let mut depth = 0usize;
    let mut close = None;
    for (i, c) in after.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.checked_sub(1).ok_or_else(invalid)?,
            ')' if depth == 0 => {
                close = Some(i);
                break;
            }
            _ => {}
        }
    }
    let close = close.ok_or_else(invalid)?;
    let rest = after[close + 1..].trim_start();
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut chars = after[..close].chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        match chars.peek() {
            None => break,
            Some('{') => {
                chars.next();
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    inner.push(c);
                }
                groups.push(inner.split(',').map(|v| v.trim().to_string()).collect());
            }
            Some(_) => {
                let mut value = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                groups.push(vec![value.trim().to_string()]);
            }
        }
    }
    let (names, rows) = groups.split_first().ok_or_else(invalid)?;
    if rows.is_empty() || names.iter().any(|n| !is_name(n)) {
        return Err(invalid());
    }
    if rows.iter().any(|row| row.len() != names.len()) {
        return Err("~LST: every value group needs one value per name".to_string());
    }
    Ok(Repeat {
        names: names.clone(),
        rows: rows.to_vec(),
        rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_with<'a>(defs: &'a HashMap<String, String>, random: &'a mut u64) -> Scope<'a> {
        Scope {
            definitions: defs,
            pwd: "/etc/keepalived",
            instance: "lb1",
            random,
        }
    }

    fn expand(line: &str, defs: &[(&str, &str)]) -> String {
        let defs: HashMap<String, String> = defs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut random = 1;
        let mut scope = scope_with(&defs, &mut random);
        let mut text = line.to_string();
        while let Some(next) = substitute(&text, &mut scope).unwrap() {
            text = next;
        }
        text
    }

    #[test]
    fn conditions_follow_the_config_id() {
        assert_eq!(
            condition("@lb1 priority 150", "lb1"),
            Condition::Selected("priority 150")
        );
        assert_eq!(condition("@lb2 priority 150", "lb1"), Condition::Skipped);
        assert_eq!(
            condition("@^lb2 priority 100", "lb1"),
            Condition::Selected("priority 100")
        );
        assert_eq!(condition("@^lb1 priority 100", "lb1"), Condition::Skipped);
        assert_eq!(condition("priority 100", "lb1"), Condition::None);
    }

    #[test]
    fn definitions_need_a_name_and_an_equals_sign_right_after_it() {
        assert_eq!(definition("$PRIO=150"), Some(("PRIO", "150")));
        assert_eq!(definition("$EMPTY="), Some(("EMPTY", "")));
        assert_eq!(definition("$M= \\"), Some(("M", "\\")));
        assert_eq!(
            definition("$P = 1"),
            None,
            "keepalived: Unknown keyword '$P'"
        );
        assert_eq!(definition("$1X=1"), None);
        assert_eq!(definition("priority $P"), None);
    }

    #[test]
    fn substitution_follows_keepalived() {
        let defs = [("P", "150"), ("BASE", "192.0.2.${SUB}"), ("SUB", "1")];
        assert_eq!(expand("priority $P", &defs), "priority 150");
        assert_eq!(expand("priority ${P}0", &defs), "priority 1500");
        // `$NAME` must be followed by whitespace or the end of the line.
        assert_eq!(expand("include $P/x.conf", &defs), "include $P/x.conf");
        assert_eq!(expand("${BASE}0/24", &defs), "192.0.2.10/24");
        assert_eq!(
            expand("echo $UNDEFINED ${ALSO}", &defs),
            "echo $UNDEFINED ${ALSO}"
        );
        assert_eq!(
            expand("a ${_HASH} ${_BANG} ${_INSTANCE}", &defs),
            "a # ! lb1"
        );
        assert_eq!(expand("${_PWD}/x", &defs), "/etc/keepalived/x");
        let r: u32 = expand("${_RANDOM 5 7}", &defs).parse().unwrap();
        assert!((5..=7).contains(&r));
    }

    #[test]
    fn sequences_and_lists() {
        let seq = repeat("~SEQ(N, 0, 3) ip ${N}").unwrap().unwrap();
        assert_eq!(seq.names, ["N"]);
        assert_eq!(seq.rows, [["0"], ["1"], ["2"], ["3"]]);
        assert_eq!(seq.rest, "ip ${N}");
        let down = repeat("~SEQ(N, 3, 1) x").unwrap().unwrap();
        assert_eq!(down.rows, [["3"], ["2"], ["1"]]);
        let short = repeat("~SEQ(N, 2) x").unwrap().unwrap();
        assert_eq!(short.rows, [["1"], ["2"]]);
        let hex = repeat("~SEQx(N, 0x90, 0x10, 0xc0) x").unwrap().unwrap();
        assert_eq!(hex.rows, [["90"], ["a0"], ["b0"], ["c0"]]);
        let lst = repeat("~LST({IP, IP1}, {10,1},{20,4}) 192.168.${IP}.${IP1}")
            .unwrap()
            .unwrap();
        assert_eq!(lst.names, ["IP", "IP1"]);
        assert_eq!(lst.rows, [["10", "1"], ["20", "4"]]);
        let simple = repeat("~LST(V, a, b, c) x $V").unwrap().unwrap();
        assert_eq!(simple.rows, [["a"], ["b"], ["c"]]);
        assert!(repeat("~SEQ(N, 1, 0, 5) x").is_err());
        assert!(repeat("~LST(V) x").is_err());
        assert_eq!(repeat("priority 1").unwrap(), None);
    }
}
