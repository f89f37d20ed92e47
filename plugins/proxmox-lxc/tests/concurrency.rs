//! 20 concurrent creates, each through its own backend instance sharing
//! one state directory, all succeed with distinct VMIDs.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Node, vmid_of};
use nexcage_plugin_api::{Backend, CreateRequest, DeleteRequest};

#[test]
fn twenty_concurrent_creates() {
    let node = Arc::new(Node::new());
    let volid = node.template();
    let threads: Vec<_> = (0..20)
        .map(|i| {
            let node = Arc::clone(&node);
            let volid = volid.clone();
            std::thread::spawn(move || {
                let b = node.backend();
                b.create(&CreateRequest {
                    id: format!("c{i}"),
                    image: Some(volid),
                    ..Default::default()
                })
                .map(|r| (format!("c{i}"), vmid_of(&r.summary)))
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let mut made = Vec::new();
    for r in results {
        made.push(r.expect("every create succeeds"));
    }
    let vmids: BTreeSet<u32> = made.iter().map(|(_, v)| *v).collect();
    assert_eq!(vmids.len(), 20, "{made:?}");
    let map = node.name_map();
    let containers = map["containers"].as_object().unwrap();
    assert_eq!(containers.len(), 20);
    for (name, vmid) in &made {
        assert_eq!(containers[name]["vmid"], *vmid);
        assert!(
            containers[name].get("creating").is_none(),
            "{name} still creating"
        );
        assert!(node.conf(*vmid).contains(&format!("hostname: {name}")));
    }
    let calls = node.calls();
    let creates = calls.iter().filter(|c| c.starts_with("pct create")).count();
    let nextids = calls.iter().filter(|c| c.starts_with("pvesh get")).count();
    eprintln!("20 creates: {creates} pct create, {nextids} pvesh nextid");
    assert_eq!(creates, 20, "no vmid collided");
    assert_eq!(nextids, 20);

    // And all deleted concurrently.
    let threads: Vec<_> = made
        .iter()
        .map(|(name, _)| {
            let node = Arc::clone(&node);
            let name = name.clone();
            std::thread::spawn(move || {
                node.backend().delete(&DeleteRequest {
                    id: name,
                    force: false,
                })
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread").expect("delete");
    }
    assert_eq!(node.name_map()["containers"], serde_json::json!({}));
}
