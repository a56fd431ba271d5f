//! `notify`, `notify_master`, ... in instances and sync groups: `CMD [USER [GROUP]]`.

use super::*;

impl Reader<'_> {
    /// A notify script: `notify_* CMD [USER [GROUP]]` (keepalived: the command is one word,
    /// quoted when it has arguments; the words after it are the user and group it runs as).
    pub(super) fn notify_command(&mut self, st: &Statement) -> Option<NotifyScript> {
        if !self.no_block(st) {
            return None;
        }
        match texts(st.args()).as_slice() {
            [] => {
                self.error(st.loc, format!("`{}` needs a command", st.keyword()));
                None
            }
            [command] => Some(NotifyScript::from(*command)),
            [command, user] => Some(NotifyScript {
                command: command.to_string(),
                user: Some(user.to_string()),
                group: None,
            }),
            [command, user, group] => Some(NotifyScript {
                command: command.to_string(),
                user: Some(user.to_string()),
                group: Some(group.to_string()),
            }),
            [command, user, group, extra @ ..] => {
                // keepalived 2.2.7 runs the command as USER:GROUP and ignores the rest.
                self.warn(
                    st.loc,
                    format!(
                        "`{}`: `{}` after the user and group is ignored, as keepalived \
                         ignores it (quote the command if these are its arguments)",
                        st.keyword(),
                        extra.join(" ")
                    ),
                );
                Some(NotifyScript {
                    command: command.to_string(),
                    user: Some(user.to_string()),
                    group: Some(group.to_string()),
                })
            }
        }
    }

    pub(super) fn notify(&mut self, st: &Statement, notify: &mut Notify, at: &str) -> bool {
        let slot = match st.keyword() {
            "notify_master" => &mut notify.master,
            "notify_backup" => &mut notify.backup,
            "notify_fault" => &mut notify.fault,
            "notify_stop" => &mut notify.stop,
            "notify" => &mut notify.any,
            _ => return false,
        };
        let field = match st.keyword() {
            "notify" => "any",
            k => k.trim_start_matches("notify_"),
        };
        if let Some(command) = self.notify_command(st) {
            // keepalived 2.2.7 keeps the first one ("script already specified - ignoring").
            if let Some(first) = slot {
                let message = format!(
                    "`{}` is given again: `{}` is ignored and `{}` kept, as keepalived keeps \
                     the first",
                    st.keyword(),
                    command.command,
                    first.command
                );
                self.warn(st.loc, message);
                return true;
            }
            *slot = Some(command);
            self.note(format!("{at}.notify.{field}"), st.loc);
        }
        true
    }
}
