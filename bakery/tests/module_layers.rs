//! bake's modules form layers: no module reaches, directly or through others, back to a
//! module that uses it. Shared helpers (base-URL and name checks in `names`, the transfer
//! file in `recipe`) live below `release`, `remote` and `firstboot`, which once imported each
//! other. Read from the sources: every `crate::NAME` path and `use crate::{...}` group.

use std::collections::BTreeMap;
use std::path::Path;

/// Module name -> the crate's other top-level modules it names.
fn module_graph() -> BTreeMap<String, Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("bakery/src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            let mut all = String::new();
            for file in std::fs::read_dir(&path).expect("module dir") {
                all += &std::fs::read_to_string(file.expect("entry").path()).expect("read");
            }
            texts.insert(name, all);
        } else if name != "lib" && name != "main" {
            texts.insert(name, std::fs::read_to_string(&path).expect("read"));
        }
    }
    let names: Vec<String> = texts.keys().cloned().collect();
    texts
        .iter()
        .map(|(module, text)| {
            let mut used = Vec::new();
            for name in &names {
                if name == module {
                    continue;
                }
                let direct = text.contains(&format!("crate::{name}::"));
                let grouped = text.split("use crate::{").skip(1).any(|rest| {
                    let group = rest.split('}').next().unwrap_or("");
                    group
                        .split(',')
                        .any(|item| item.trim().split("::").next() == Some(name.as_str()))
                });
                if direct || grouped {
                    used.push(name.clone());
                }
            }
            (module.clone(), used)
        })
        .collect()
}

/// The first cycle found, as a path that starts and ends at the same module.
fn find_cycle(graph: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, Vec<String>>,
        node: &str,
        stack: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.iter().any(|n| n == node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.push(node.to_string());
        None
    }
    let mut done = Vec::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn bakery_modules_have_no_cycles() {
    let graph = module_graph();
    // The reader must see the known edges, or an empty graph would pass.
    assert!(
        graph["release"].contains(&"firstboot".to_string()),
        "{graph:?}"
    );
    assert!(
        graph["firstboot"].contains(&"remote".to_string()),
        "{graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "module cycle {}; move what both need below them\n{graph:#?}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn cycle_finder_sees_a_cycle() {
    let graph: BTreeMap<String, Vec<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
