//! Splits a command line into argv the way a POSIX shell does for simple quoting:
//! whitespace separates words, `'...'` is literal, `"..."` allows `\"`, `\\`, `\$`
//! and `` \` ``, and a backslash outside quotes escapes the next character.
//! No expansion of variables, globs or substitutions happens: checks run without a shell
//! unless the command names one (`/bin/sh -c '...'`).

pub fn split(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated ' quote in `{command}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unterminated \" quote in `{command}`")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated \" quote in `{command}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("trailing backslash in `{command}`")),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split("/bin/bash -c 'timeout 2 /usr/bin/nc -z 198.51.100.7 7443'").unwrap(),
            [
                "/bin/bash",
                "-c",
                "timeout 2 /usr/bin/nc -z 198.51.100.7 7443"
            ]
        );
        assert_eq!(
            split("killall -0 haproxy").unwrap(),
            ["killall", "-0", "haproxy"]
        );
        assert_eq!(
            split(r#"a "b \"c\" d" e\ f ''"#).unwrap(),
            ["a", "b \"c\" d", "e f", ""]
        );
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
        assert!(split("echo 'oops").is_err());
        assert!(split("echo \"oops").is_err());
    }
}
