//! Errors a backend returns, and their stable kinds.

#![allow(non_local_definitions)]

use std::fmt;

use abi_stable::StableAbi;

/// A stable error code.
///
/// An integer newtype rather than an enum so that later plugin-API versions
/// can add kinds without breaking the ABI: a host that meets a kind it does
/// not know treats it as [`ErrorKind::BACKEND_FAILED`].
///
/// ```
/// use nexcage_plugin_api::ErrorKind;
/// assert_eq!(ErrorKind::NOT_FOUND.name(), "not-found");
/// assert_eq!(ErrorKind(9999).name(), "backend-failed");
/// ```
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorKind(pub u32);

impl ErrorKind {
    /// The container (or another named object) does not exist.
    pub const NOT_FOUND: Self = Self(1);
    /// The container (or another named object) already exists.
    pub const ALREADY_EXISTS: Self = Self(2);
    /// An argument or option is invalid.
    pub const INVALID_ARGUMENT: Self = Self(3);
    /// The container is not running.
    pub const NOT_RUNNING: Self = Self(4);
    /// The backend does not implement this command or option.
    pub const UNSUPPORTED: Self = Self(5);
    /// A tool the backend ran did not finish in time.
    pub const TIMEOUT: Self = Self(6);
    /// The backend or a tool it ran failed.
    pub const BACKEND_FAILED: Self = Self(7);
    /// The backend's config table is invalid.
    pub const INVALID_CONFIG: Self = Self(8);
    /// The plugin panicked; the panic was caught at the boundary.
    pub const PANICKED: Self = Self(9);
    /// The container is locked by another operation.
    pub const LOCKED: Self = Self(10);
    /// The container is already running.
    pub const ALREADY_RUNNING: Self = Self(11);
    /// The container is in a state that does not allow the operation.
    pub const INVALID_STATE: Self = Self(12);
    /// Permission denied.
    pub const PERMISSION_DENIED: Self = Self(13);

    const NAMES: [(Self, &'static str); 13] = [
        (Self::NOT_FOUND, "not-found"),
        (Self::ALREADY_EXISTS, "already-exists"),
        (Self::INVALID_ARGUMENT, "invalid-argument"),
        (Self::NOT_RUNNING, "not-running"),
        (Self::UNSUPPORTED, "unsupported"),
        (Self::TIMEOUT, "timeout"),
        (Self::BACKEND_FAILED, "backend-failed"),
        (Self::INVALID_CONFIG, "invalid-config"),
        (Self::PANICKED, "panicked"),
        (Self::LOCKED, "locked"),
        (Self::ALREADY_RUNNING, "already-running"),
        (Self::INVALID_STATE, "invalid-state"),
        (Self::PERMISSION_DENIED, "permission-denied"),
    ];

    /// The kind's stable name; unknown kinds read as `backend-failed`.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("backend-failed", |(_, n)| n)
    }

    /// Maps kinds this host does not know to [`ErrorKind::BACKEND_FAILED`].
    pub fn normalized(self) -> Self {
        if Self::NAMES.iter().any(|(k, _)| *k == self) {
            self
        } else {
            Self::BACKEND_FAILED
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error type of every [`Backend`](crate::Backend) method.
///
/// Messages are lower-case, carry context, and are shown to the user as
/// they are. The constructors for the common OCI cases use the exact words
/// container engines match on (`container does not exist`,
/// `container not running`).
///
/// ```
/// use nexcage_plugin_api::{BackendError, ErrorKind};
/// let e = BackendError::container_not_running("web1");
/// assert_eq!(e.kind, ErrorKind::NOT_RUNNING);
/// assert!(e.message.contains("container not running"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    /// The stable kind.
    pub kind: ErrorKind,
    /// The message shown to the user.
    pub message: String,
    /// The config key or option the error is about, if any.
    pub key: Option<String>,
}

impl BackendError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            key: None,
        }
    }

    /// Attaches the config key or option this error is about.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// `container does not exist`, the words runc and its clients use.
    pub fn container_not_found(id: &str) -> Self {
        Self::new(
            ErrorKind::NOT_FOUND,
            format!("container does not exist: {id}"),
        )
    }

    /// `container not running`, the words containerd matches after a kill.
    pub fn container_not_running(id: &str) -> Self {
        Self::new(
            ErrorKind::NOT_RUNNING,
            format!("container not running: {id}"),
        )
    }

    /// The command is not implemented by this backend.
    pub fn unsupported(what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::UNSUPPORTED, format!("{what} is not supported"))
    }

    /// An invalid argument.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::INVALID_ARGUMENT, message)
    }

    /// An invalid config value.
    pub fn invalid_config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::INVALID_CONFIG, message).with_key(key)
    }

    /// A failure of the backend or a tool it ran.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BACKEND_FAILED, message)
    }

    /// Prefixes the message with context, keeping kind and key.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl From<crate::abi::PluginError> for BackendError {
    fn from(e: crate::abi::PluginError) -> Self {
        Self {
            kind: e.kind.normalized(),
            message: e.message.into_string(),
            key: if e.key.is_empty() {
                None
            } else {
                Some(e.key.into_string())
            },
        }
    }
}

impl From<BackendError> for crate::abi::PluginError {
    fn from(e: BackendError) -> Self {
        Self {
            kind: e.kind,
            message: e.message.into(),
            key: e.key.unwrap_or_default().into(),
        }
    }
}
