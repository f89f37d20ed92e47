//! Backends linked into this binary (cargo features `builtin-*`).
//!
//! `inventory` registrations in a statically linked crate are dropped by
//! the linker unless something references that crate, so each built-in
//! plugin is referenced here.

/// Keeps every enabled built-in plugin linked in.
pub fn anchor() {
    #[cfg(feature = "builtin-oci")]
    std::hint::black_box(nexcage_oci::__nexcage_builtin_anchor());
    #[cfg(feature = "builtin-proxmox-lxc")]
    std::hint::black_box(nexcage_proxmox_lxc::__nexcage_builtin_anchor());
}

/// The names this build links in, for tests.
pub const ENABLED: &[&str] = &[
    #[cfg(feature = "builtin-oci")]
    "oci",
    #[cfg(feature = "builtin-proxmox-lxc")]
    "proxmox-lxc",
];
