//! `pve-double-mktemplate <root> [name]`: builds the busybox test template
//! under the simulated node `<root>` and prints its path.
use pct_double::node::{NODE_ENV, Node};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.len() > 2 || args[0].starts_with('-') {
        eprintln!("usage: pve-double-mktemplate <root> [name]");
        std::process::exit(2);
    }
    let node_name = std::env::var(NODE_ENV)
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "pve".to_string());
    let node = Node::new(&args[0], &node_name);
    match pct_double::make_template(&node, args.get(1).map(String::as_str)) {
        Ok(p) => println!("{}", p.display()),
        Err(e) => {
            eprintln!("pve-double-mktemplate: {e}");
            std::process::exit(1);
        }
    }
}
