//! The value forms of keepalived.conf lines, read as keepalived 2.2.7 reads them: a single
//! value, a flag, an on/off switch, numbers, seconds, addresses, commands and block names.
//! A value keepalived cannot use is ignored with a warning, as keepalived ignores it.

use super::*;

/// keepalived's boolean words.
pub(super) fn bool_word(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        // Written in the wild for flags; keepalived ignores the value either way.
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// keepalived 2.2.7 reads most numbers as C's `strtol` does: a number followed by other
/// characters (`3;`, `2s`, `1.5`, `-20;`) counts as its leading digits, with "WARNING -
/// invalid number" (only `priority`, `virtual_router_id` and `unicast_ttl` refuse such a
/// word). The leading number when `text` is such a word.
pub(super) fn leading_number(text: &str) -> Option<&str> {
    let sign = usize::from(text.starts_with(['-', '+']));
    let digits = text[sign..].bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && sign + digits < text.len()).then(|| &text[..sign + digits])
}

/// keepalived 2.2.7's reading of a decimal number of seconds that is not a number (`2s`,
/// `0.5;`, `abc`): it drops the decimal point (keeping at most six places, the seventh
/// rounding), then counts the digits up to the first other character as microseconds
/// ("WARNING - invalid number"; `2s` is 2 µs, `0.5;` 5 µs, `abc` 0). None for a negative
/// value or one beyond u64, which keepalived refuses.
pub(super) fn keepalived_garbled_micros(text: &str) -> Option<u64> {
    if text.starts_with('-') {
        return None;
    }
    let bytes = text.as_bytes();
    let (joined, round_up) = match bytes.iter().position(|&b| b == b'.') {
        Some(dot) => {
            let fraction = &bytes[dot + 1..];
            let kept = &fraction[..fraction.len().min(6)];
            let round_up = fraction.get(6).is_some_and(|&b| b >= b'5');
            ([&bytes[..dot], kept].concat(), round_up)
        }
        None => (bytes.to_vec(), false),
    };
    let digits = joined.iter().take_while(|b| b.is_ascii_digit()).count();
    let value = match digits {
        0 => 0,
        _ => std::str::from_utf8(&joined[..digits])
            .ok()?
            .parse::<u64>()
            .ok()?,
    };
    value.checked_add(u64::from(round_up))
}

pub(super) fn texts(words: &[Word]) -> Vec<&str> {
    words.iter().map(|w| w.text.as_str()).collect()
}

impl Reader<'_> {
    /// The block of a block keyword; reports its absence.
    pub(super) fn block<'s>(&mut self, st: &'s Statement) -> Option<&'s [Statement]> {
        match &st.block {
            Some(block) => Some(block),
            None => {
                self.error(st.loc, format!("`{}` needs a {{ }} block", st.keyword()));
                None
            }
        }
    }

    /// Reports a block after a keyword that takes none.
    pub(super) fn no_block(&mut self, st: &Statement) -> bool {
        if st.block.is_some() {
            self.error(st.loc, format!("`{}` takes no {{ }} block", st.keyword()));
            return false;
        }
        true
    }

    /// The single argument of `st`.
    pub(super) fn arg<'s>(&mut self, st: &'s Statement) -> Option<&'s str> {
        if !self.no_block(st) {
            return None;
        }
        match st.args() {
            [one] => Some(one.text.as_str()),
            [] => {
                self.error(st.loc, format!("`{}` needs a value", st.keyword()));
                None
            }
            [one, extra @ ..] => {
                // keepalived reads the first word and ignores the rest.
                let extra: Vec<&str> = extra.iter().map(|w| w.text.as_str()).collect();
                self.warn(
                    st.loc,
                    format!(
                        "`{}`: `{}` after the value `{}` is ignored, as keepalived ignores it",
                        st.keyword(),
                        extra.join(" "),
                        one.text
                    ),
                );
                Some(one.text.as_str())
            }
        }
    }

    /// A keyword that takes no value. keepalived 2.2.7 ignores anything written after it
    /// (`nopreempt 1`, `nopreempt 0` and `nopreempt no` all turn preemption off), and so
    /// does vipd; a value that reads as "off" gets a warning, as the file likely means the
    /// opposite of what both daemons do.
    pub(super) fn flag(&mut self, st: &Statement) -> bool {
        if !self.no_block(st) {
            return false;
        }
        if let Some(value) = st.args().first() {
            if bool_word(&value.text) == Some(false) {
                let keyword = st.keyword();
                self.warn(
                    st.loc,
                    format!(
                        "`{keyword} {}`: keepalived ignores the value and so does vipd: \
                         `{keyword}` is in effect",
                        value.text
                    ),
                );
            }
        }
        true
    }

    /// A GARP refresh period in seconds (0: no refresh). Without a value keepalived 2.2.7
    /// stops at the line ("missing a parameter"), and so does vipd.
    pub(super) fn refresh_seconds(&mut self, st: &Statement) -> Option<u64> {
        if st.args().is_empty() && st.block.is_none() {
            self.missing_value(st);
            return None;
        }
        self.number(st, 0u64, 86_400)
    }

    /// keepalived `KEYWORD [<BOOL>]`: no value means on; on|off|true|false|yes|no.
    pub(super) fn switch(&mut self, st: &Statement) -> Option<bool> {
        if !self.no_block(st) {
            return None;
        }
        let words = texts(st.args());
        // keepalived reads the first word only.
        if let [first, extra @ ..] = words.as_slice() {
            if !extra.is_empty() {
                self.warn(
                    st.loc,
                    format!(
                        "`{}`: `{}` after the value `{first}` is ignored, as keepalived \
                         ignores it",
                        st.keyword(),
                        extra.join(" ")
                    ),
                );
            }
        }
        match words.first().copied() {
            None | Some("on" | "true" | "yes") => Some(true),
            Some("off" | "false" | "no") => Some(false),
            Some(other) => {
                self.ignored_value(st, other, "is not one of on, off, true, false, yes, no");
                None
            }
        }
    }

    /// keepalived `vrrp_mcast_group4/6`: a multicast address of the right family.
    pub(super) fn group(&mut self, st: &Statement, ipv6: bool) -> Option<IpAddr> {
        let text = self.arg(st)?;
        match text.parse::<IpAddr>() {
            Ok(group) if group.is_multicast() && group.is_ipv6() == ipv6 => Some(group),
            _ => {
                let family = if ipv6 { "IPv6" } else { "IPv4" };
                self.ignored_value(st, text, &format!("is not an {family} multicast address"));
                None
            }
        }
    }

    /// A number in `min..=max`, read as keepalived reads it: `3;` or `2s` count as their
    /// leading digits (see [`leading_number`]), with a warning.
    pub(super) fn number<T: FromStr + PartialOrd + std::fmt::Display>(
        &mut self,
        st: &Statement,
        min: T,
        max: T,
    ) -> Option<T> {
        let text = self.arg(st)?;
        let (value, leading) = match text.parse::<T>() {
            Ok(n) => (Some(n), None),
            Err(_) => match leading_number(text) {
                Some(lead) => (lead.parse::<T>().ok(), Some(lead)),
                None => (None, None),
            },
        };
        match value {
            Some(n) if n >= min && n <= max => {
                if let Some(lead) = leading {
                    let what = format!("`{}`", st.keyword());
                    self.read_as_leading_number(st.loc, &what, text, lead);
                }
                Some(n)
            }
            _ => {
                self.ignored_value(st, text, &format!("is not a number in {min}..={max}"));
                None
            }
        }
    }

    /// A number keepalived refuses unless the whole word is one (`unicast_ttl`).
    pub(super) fn strict_number<T: FromStr + PartialOrd + std::fmt::Display>(
        &mut self,
        st: &Statement,
        min: T,
        max: T,
    ) -> Option<T> {
        let text = self.arg(st)?;
        match text.parse::<T>() {
            Ok(n) if n >= min && n <= max => Some(n),
            _ => {
                self.ignored_value(st, text, &format!("is not a number in {min}..={max}"));
                None
            }
        }
    }

    /// Warns that `text` counts as its leading number `lead`, as in keepalived.
    pub(super) fn read_as_leading_number(&mut self, loc: Loc, what: &str, text: &str, lead: &str) {
        self.warn(
            loc,
            format!(
                "{what}: `{text}` is read as {lead}, as keepalived reads it (\"WARNING - \
                 invalid number\"): remove what follows the number"
            ),
        );
    }

    /// keepalived 2.2.7 logs a value it cannot use and goes on without it (the setting keeps
    /// its default or earlier value); so does vipd, with a warning naming the line.
    pub(super) fn ignored_value(&mut self, st: &Statement, text: &str, why: &str) {
        self.warn(
            st.loc,
            format!(
                "`{}`: `{text}` {why}: the line is ignored, as keepalived ignores it",
                st.keyword()
            ),
        );
    }

    pub(super) fn seconds(&mut self, st: &Statement) -> Option<Duration> {
        let text = self.arg(st)?;
        match duration::parse_seconds(text) {
            Some(d) => Some(d),
            None => {
                self.ignored_value(st, text, "is not a number of seconds");
                None
            }
        }
    }

    /// A keyword keepalived reads as a decimal number of seconds (`advert_int`,
    /// `preempt_delay`, GARP intervals, delays) in `min..=max` (keepalived 2.2.7's range for
    /// it); a value outside it is ignored with a warning, as keepalived ignores it. A value
    /// that is not a number (`2s`, `0.5;`) is read as keepalived reads it, in microseconds
    /// (see [`keepalived_garbled_micros`]), with a warning.
    pub(super) fn seconds_in(
        &mut self,
        st: &Statement,
        min: Duration,
        max: Duration,
    ) -> Option<Duration> {
        let text = self.arg(st)?;
        let range = format!("{}..={} seconds", decimal(min), decimal(max));
        let in_range = |v: Duration| v >= min && v <= max;
        if let Some(v) = duration::parse_seconds(text) {
            if !in_range(v) {
                self.ignored_value(st, text, &format!("is not in {range}"));
                return None;
            }
            return Some(v);
        }
        let Some(micros) = keepalived_garbled_micros(text) else {
            self.ignored_value(st, text, "is not a number of seconds");
            return None;
        };
        let how = "as keepalived 2.2.7 reads it (\"WARNING - invalid number\": the digits up to \
                   the first other character, decimal point dropped, as microseconds)";
        let v = Duration::from_micros(micros);
        if !in_range(v) {
            let why =
                format!("is not a number of seconds: read as {micros} µs {how}, outside {range}");
            self.ignored_value(st, text, &why);
            return None;
        }
        self.warn(
            st.loc,
            format!(
                "`{}`: `{text}` is not a number of seconds: read as {micros} µs, {how}; write \
                 the seconds alone",
                st.keyword()
            ),
        );
        Some(v)
    }

    /// A repeat count: keepalived 2.2.7 reads 0 as 1 ("must be greater than 0, setting to
    /// 1").
    pub(super) fn repeat(&mut self, st: &Statement) -> Option<u32> {
        let v = self.number(st, 0u32, 10_000)?;
        if v == 0 {
            self.warn(
                st.loc,
                format!(
                    "`{} 0` is read as 1, as keepalived reads it (\"must be greater than 0\")",
                    st.keyword()
                ),
            );
            return Some(1);
        }
        Some(v)
    }

    /// A unicast source or peer address. keepalived 2.2.7 ignores anything from a `/` on
    /// (`unicast_src_ip 192.0.2.1/24` is written when the address is copied from `ip addr`).
    pub(super) fn unicast_address(&mut self, loc: Loc, text: &str) -> Option<IpAddr> {
        let Some((address, suffix)) = text.split_once('/') else {
            return self.address(loc, text);
        };
        let parsed = self.address(loc, address)?;
        let max = if parsed.is_ipv4() { 32 } else { 128 };
        if !suffix.parse::<u8>().is_ok_and(|len| len <= max) {
            self.warn(
                loc,
                format!("`{text}`: `/{suffix}` is ignored, as keepalived ignores it"),
            );
        }
        Some(parsed)
    }

    /// keepalived 2.2.7 skips a malformed unicast source or peer ("malformed ... address.
    /// Skipping..."); so does vipd, with a warning.
    pub(super) fn address(&mut self, loc: Loc, text: &str) -> Option<IpAddr> {
        match text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.warn(
                    loc,
                    format!("`{text}` is not an IP address: skipped, as keepalived skips it"),
                );
                None
            }
        }
    }

    /// A script command: the first word, as keepalived 2.2.7 reads it (a quoted string is
    /// one word, split into arguments when run; words after it are dropped with a warning).
    pub(super) fn command(&mut self, st: &Statement) -> Option<String> {
        if !self.no_block(st) {
            return None;
        }
        match st.args() {
            [] => {
                self.warn(
                    st.loc,
                    format!(
                        "`{}` without a command is ignored, as keepalived ignores it",
                        st.keyword()
                    ),
                );
                None
            }
            [one] => Some(one.text.clone()),
            // keepalived 2.2.7 takes the first word only (its -d dump shows `Command =
            // '/usr/bin/killall'` for `script killall -0 haproxy`, and runs it so): the
            // check then fails or succeeds whatever it was meant to test.
            [first, rest @ ..] => {
                let rest: Vec<&str> = rest.iter().map(|w| w.text.as_str()).collect();
                self.warn(
                    st.loc,
                    format!(
                        "`{}`: keepalived 2.2.7 runs `{}` alone and drops `{}`, and so does \
                         vipd: write the command in quotes (`{} \"{} {}\"`) to run it \
                         with its arguments",
                        st.keyword(),
                        first.text,
                        rest.join(" "),
                        st.keyword(),
                        first.text,
                        rest.join(" ")
                    ),
                );
                Some(first.text.clone())
            }
        }
    }

    /// The name and block of a `vrrp_instance` or `vrrp_sync_group` seen for the first time,
    /// with its index among those already read (its line noted as `{path}[index]`).
    /// keepalived 2.2.7 skips such a block without exactly one name, and one whose name is
    /// already defined ("vrrp instance X already defined"); so does vipd, with a warning.
    pub(super) fn named_block_once<'s>(
        &mut self,
        st: &'s Statement,
        path: &str,
        names: fn(&Config) -> Vec<&str>,
    ) -> Option<(String, &'s [Statement], usize)> {
        let (Some(name), Some(block)) = (self.skippable_block_name(st), self.block(st)) else {
            return None;
        };
        let defined = names(&self.cfg);
        let (index, again) = (defined.len(), defined.contains(&name.as_str()));
        if again {
            self.warn(
                st.loc,
                format!(
                    "{} `{name}` is defined again: this block is skipped, as keepalived \
                     skips it",
                    st.keyword()
                ),
            );
            return None;
        }
        self.note(format!("{path}[{index}]"), st.loc);
        Some((name, block, index))
    }

    /// The name after a block keyword (`vrrp_instance NAME {`).
    /// The name of a `vrrp_instance` or `vrrp_sync_group`: keepalived 2.2.7 skips such a
    /// block without exactly one name ("must have a name - skipping"); so does vipd, with a
    /// warning.
    pub(super) fn skippable_block_name(&mut self, st: &Statement) -> Option<String> {
        match st.args() {
            [name] => Some(name.text.clone()),
            _ => {
                self.warn(
                    st.loc,
                    format!(
                        "`{}` needs exactly one name: the block is skipped, as keepalived \
                         skips it",
                        st.keyword()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn block_name(&mut self, st: &Statement) -> Option<String> {
        match st.args() {
            [name] => Some(name.text.clone()),
            [] => {
                self.error(st.loc, format!("`{}` needs a name", st.keyword()));
                None
            }
            [name, extra @ ..] => {
                // keepalived uses the first word as the name.
                let extra: Vec<&str> = extra.iter().map(|w| w.text.as_str()).collect();
                self.warn(
                    st.loc,
                    format!(
                        "`{} {}`: `{}` after the name is ignored, as keepalived ignores it",
                        st.keyword(),
                        name.text,
                        extra.join(" ")
                    ),
                );
                Some(name.text.clone())
            }
        }
    }
}

/// Seconds as keepalived writes a range: `0.000001`, `4294.967295`, `1`.
fn decimal(d: Duration) -> String {
    let text = format!("{}.{:06}", d.as_secs(), d.subsec_micros());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
