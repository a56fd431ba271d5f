//! Which instances are in which sync group, by index into the runtime's routers: the sync
//! group passes run every event-loop turn and must cost the members of the groups whose
//! instances were fed, not a walk over every instance (510 instances, a few groups).

use crate::config::SyncGroup;

/// Group -> member router indices and router -> groups. Rebuilt whenever the routers or the
/// configuration change (start, reload); empty while they are being replaced.
#[derive(Debug, Default)]
pub struct SyncIndex {
    members: Vec<Vec<usize>>,
    groups_of: Vec<Vec<usize>>,
}

impl SyncIndex {
    /// `names` are the routers' instance names in router order.
    pub fn build<'a>(groups: &[SyncGroup], names: impl Iterator<Item = &'a str>) -> SyncIndex {
        let names: Vec<&str> = names.collect();
        let mut groups_of = vec![Vec::new(); names.len()];
        let members = groups
            .iter()
            .enumerate()
            .map(|(g, group)| {
                let members: Vec<usize> = (names.iter().enumerate())
                    .filter(|(_, name)| group.instances.iter().any(|i| i == *name))
                    .map(|(r, _)| r)
                    .collect();
                for &r in &members {
                    groups_of[r].push(g);
                }
                members
            })
            .collect();
        SyncIndex { members, groups_of }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether the router at `index` is in any sync group.
    pub fn is_member(&self, index: usize) -> bool {
        self.groups_of.get(index).is_some_and(|g| !g.is_empty())
    }

    /// Member router indices of group `group`.
    pub fn members(&self, group: usize) -> &[usize] {
        self.members.get(group).map_or(&[], Vec::as_slice)
    }

    /// Groups the router at `index` is in.
    pub fn groups_of(&self, index: usize) -> &[usize] {
        self.groups_of.get(index).map_or(&[], Vec::as_slice)
    }

    /// The groups of these routers (`None`: of all routers), each once.
    pub fn groups_touched(&self, touched: Option<&[u32]>) -> Vec<usize> {
        let Some(touched) = touched else {
            return (0..self.members.len()).collect();
        };
        let mut groups: Vec<usize> = Vec::new();
        for &index in touched {
            for &g in self.groups_of(index as usize) {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, instances: &[&str]) -> SyncGroup {
        SyncGroup {
            name: name.into(),
            instances: instances.iter().map(|i| i.to_string()).collect(),
            notify: Default::default(),
            track_checks: Vec::new(),
            track_files: Vec::new(),
            track_interfaces: Vec::new(),
        }
    }

    #[test]
    fn groups_map_to_router_indices_both_ways() {
        let groups = [group("G1", &["a", "c"]), group("G2", &["d", "b"])];
        let index = SyncIndex::build(&groups, ["a", "b", "c", "d", "e"].into_iter());
        assert_eq!(index.members(0), [0, 2]);
        assert_eq!(index.members(1), [1, 3]);
        assert_eq!(index.members(7), [] as [usize; 0]);
        assert_eq!(index.groups_of(3), [1]);
        assert!(index.is_member(0) && !index.is_member(4) && !index.is_member(99));
        assert_eq!(index.groups_touched(Some(&[4, 2, 0])), [0]);
        assert_eq!(index.groups_touched(Some(&[3, 2, 1])), [1, 0]);
        assert_eq!(index.groups_touched(None), [0, 1]);
        assert!(index.groups_touched(Some(&[4])).is_empty());
        assert!(SyncIndex::default().is_empty());
    }
}
