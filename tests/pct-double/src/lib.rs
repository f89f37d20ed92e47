//! Test double of Proxmox VE's `pct`, `pveam` and `pvesh`, built on real
//! LXC. See the crate README for the layout under `$PVE_DOUBLE_ROOT`, the
//! fault-injection knobs and the deviations from real Proxmox.

pub mod cli;
pub mod config;
pub mod error;
pub mod faults;
pub mod getopt;
pub mod lxc;
pub mod node;
pub mod pct;
pub mod proc;
pub mod pveam;
pub mod pvesh;
pub mod schema;
pub mod storage;
pub mod template;

pub use node::{NODE_ENV, ROOT_ENV};
pub use template::{TEMPLATE_NAME, default_volid, make_template};
