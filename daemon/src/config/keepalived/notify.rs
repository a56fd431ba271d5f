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
        if st.keyword() == "notify_priority_changes" {
            if let Some(on) = self.switch(st) {
                notify.priority_changes = Some(on);
                self.note(format!("{at}.notify.priority_changes"), st.loc);
            }
            return true;
        }
        let instance_only = matches!(
            st.keyword(),
            "notify_deleted" | "notify_master_rx_lower_pri"
        );
        if instance_only && !at.starts_with("instance") {
            // keepalived 2.2.7 knows these only in vrrp_instance.
            return false;
        }
        if st.keyword() == "notify_deleted" {
            // keepalived 2.2.7: the script is optional; the keyword alone switches FAULT
            // to DELETED for instances removed by a reload.
            if !st.args().is_empty() {
                let Some(command) = self.notify_command(st) else {
                    return true;
                };
                if let Some(first) = &notify.deleted_script {
                    let message = format!(
                        "`notify_deleted` is given again: `{}` is ignored and `{}` kept, as \
                         keepalived keeps the first",
                        command.command, first.command
                    );
                    self.warn(st.loc, message);
                    return true;
                }
                notify.deleted_script = Some(command);
            } else if !self.no_block(st) {
                return true;
            }
            notify.deleted = true;
            self.note(format!("{at}.notify.deleted"), st.loc);
            return true;
        }
        let slot = match st.keyword() {
            "notify_master_rx_lower_pri" => &mut notify.master_rx_lower_pri,
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

impl Reader<'_> {
    /// `notify_fifo PATH [USER [GROUP]]`, `notify_fifo_script CMD [USER [GROUP]]` (and their
    /// `vrrp_` twins), `vrrp_notify_priority_changes [BOOL]`,
    /// `fifo_write_vrrp_states_on_reload`, all in `global_defs`.
    pub(super) fn notify_fifo(&mut self, st: &Statement) {
        let keyword = st.keyword();
        match keyword {
            "vrrp_notify_priority_changes" => {
                if let Some(on) = self.switch(st) {
                    self.cfg.global.notify_priority_changes = on;
                }
                return;
            }
            "fifo_write_vrrp_states_on_reload" => {
                if self.flag(st) {
                    self.cfg.global.fifo_write_states_on_reload = true;
                }
                return;
            }
            _ => {}
        }
        let vrrp = keyword.starts_with("vrrp_");
        let field = if vrrp {
            "vrrp_notify_fifo"
        } else {
            "notify_fifo"
        };
        fn slot(cfg: &mut Config, vrrp: bool) -> &mut Option<NotifyFifo> {
            if vrrp {
                &mut cfg.global.vrrp_notify_fifo
            } else {
                &mut cfg.global.notify_fifo
            }
        }
        if st.args().is_empty() {
            // keepalived: "No notify_fifo name specified", and it runs without.
            let what = if keyword.ends_with("_script") {
                "a command"
            } else {
                "the path of the FIFO"
            };
            self.warn(
                st.loc,
                format!("`{keyword}` without {what} is ignored, as keepalived ignores it"),
            );
            return;
        }
        if keyword.ends_with("_script") {
            // Same reading as a notify script: `CMD [USER [GROUP]]`.
            let Some(script) = self.notify_command(st) else {
                return;
            };
            let fifo = slot(&mut self.cfg, vrrp).get_or_insert_with(|| NotifyFifo {
                path: String::new(),
                owner: None,
                group: None,
                script: None,
            });
            // A second line replaces the first.
            fifo.script = Some(script);
            self.note(format!("global.{field}.script"), st.loc);
            return;
        }
        if !self.no_block(st) {
            return;
        }
        let words = texts(st.args());
        let Some((path, identity)) = words.split_first() else {
            return;
        };
        if identity.len() > 2 {
            self.warn(
                st.loc,
                format!(
                    "`{keyword}`: `{}` after the user and group is ignored, as keepalived \
                     ignores it",
                    identity[2..].join(" ")
                ),
            );
        }
        let fifo = slot(&mut self.cfg, vrrp).get_or_insert_with(|| NotifyFifo {
            path: String::new(),
            owner: None,
            group: None,
            script: None,
        });
        fifo.path = path.to_string();
        fifo.owner = identity.first().map(|u| u.to_string());
        fifo.group = identity.get(1).map(|g| g.to_string());
        self.note(format!("global.{field}"), st.loc);
        self.note(format!("global.{field}.path"), st.loc);
    }

    /// A FIFO script without its FIFO: keepalived starts no script then, and neither does
    /// vipd.
    pub(super) fn fifos_without_path(&mut self) {
        for vrrp in [false, true] {
            let field = if vrrp {
                "vrrp_notify_fifo"
            } else {
                "notify_fifo"
            };
            let slot = if vrrp {
                &mut self.cfg.global.vrrp_notify_fifo
            } else {
                &mut self.cfg.global.notify_fifo
            };
            if slot.as_ref().is_some_and(|f| f.path.is_empty()) {
                *slot = None;
                let loc = self
                    .locations
                    .get(&format!("global.{field}.script"))
                    .copied();
                self.warn_at(
                    loc,
                    format!(
                        "`{field}_script` without `{field}` is ignored, as keepalived ignores \
                         it: the script reads the FIFO `{field}` names"
                    ),
                );
            }
        }
    }
}
