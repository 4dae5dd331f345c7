//! The one-line summary `gwctl reload` prints and the log records: what a
//! valid reload changed, by name, so an operator sees at once whether the
//! edit they meant is the one that was applied.

use crate::config::Config;

/// What a reload changes, for `gwctl reload` and the log: peers and exports
/// by name, e.g. "peers: 2 (added cluster-c); exports: 3 (removed shared/old)".
pub fn reload_summary(old: &Config, new: &Config) -> String {
    let peers = |c: &Config| c.peers.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    let exports = |c: &Config| {
        c.globalnet
            .exports
            .iter()
            .map(|e| e.name.to_string())
            .collect::<Vec<_>>()
    };
    let changed: Vec<&str> = new
        .peers
        .iter()
        .filter(|p| old.peers.iter().any(|o| o.name == p.name && o != *p))
        .map(|p| p.name.as_str())
        .collect();
    let peers_changed = if changed.is_empty() {
        String::new()
    } else {
        format!(", changed {}", changed.join(", "))
    };
    format!(
        "peers: {}{peers_changed}; exports: {}",
        name_changes(&peers(old), &peers(new)),
        name_changes(&exports(old), &exports(new))
    )
}

/// "N" or "N (added a, b; removed c)".
fn name_changes(old: &[String], new: &[String]) -> String {
    let added: Vec<&str> = new
        .iter()
        .filter(|n| !old.contains(n))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = old
        .iter()
        .filter(|n| !new.contains(n))
        .map(String::as_str)
        .collect();
    let mut changes = Vec::new();
    if !added.is_empty() {
        changes.push(format!("added {}", added.join(", ")));
    }
    if !removed.is_empty() {
        changes.push(format!("removed {}", removed.join(", ")));
    }
    if changes.is_empty() {
        new.len().to_string()
    } else {
        format!("{} ({})", new.len(), changes.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::name_changes;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unchanged_lists_are_a_count() {
        assert_eq!(name_changes(&names(&["b"]), &names(&["b"])), "1");
    }

    #[test]
    fn changes_name_what_was_added_and_removed() {
        assert_eq!(
            name_changes(&names(&["b", "c"]), &names(&["b", "d", "e"])),
            "3 (added d, e; removed c)"
        );
        assert_eq!(name_changes(&names(&["b"]), &names(&[])), "0 (removed b)");
    }
}

#[cfg(test)]
mod summary_tests {
    use super::reload_summary;
    use crate::config::Config;

    /// The lab's config with its peer's key filled in (any valid key).
    fn lab_a() -> String {
        include_str!("../../../deploy/lab/cluster-a.yaml").replace(
            "@CLUSTER_B_PUBLIC_KEY@",
            "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
        )
    }

    #[test]
    fn an_edited_peer_is_named_as_changed() {
        let lab = lab_a();
        let old = Config::from_yaml(&lab).unwrap();
        assert_eq!(reload_summary(&old, &old), "peers: 1; exports: 1");
        let edited = lab.replace("persistent_keepalive: 10", "persistent_keepalive: 25");
        assert_ne!(edited, lab, "the lab config has a keepalive to edit");
        let new = Config::from_yaml(&edited).unwrap();
        assert_eq!(
            reload_summary(&old, &new),
            "peers: 1, changed cluster-b; exports: 1"
        );
    }
}
