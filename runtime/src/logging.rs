//! Log setup: stderr or `--log FILE`, text or runc-style JSON lines.
//!
//! The JSON format is the one runc writes and containerd parses
//! (`{"level":"error","msg":"…","time":"…"}`): containerd shows the `msg`
//! of the last error line to its user.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogFormat;
use nexcage_plugin_api::__private::MessageVisitor;

/// Parses a level name.
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.to_ascii_lowercase().as_str() {
        "off" => Some(LevelFilter::OFF),
        "error" => Some(LevelFilter::ERROR),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "info" => Some(LevelFilter::INFO),
        "debug" => Some(LevelFilter::DEBUG),
        "trace" => Some(LevelFilter::TRACE),
        _ => None,
    }
}

type Sink = Box<dyn Write + Send>;

struct LineLayer {
    sink: Mutex<Sink>,
    format: LogFormat,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LineLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut msg = MessageVisitor::default();
        event.record(&mut msg);
        let meta = event.metadata();
        let level = meta.level().as_str().to_ascii_lowercase();
        let time = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
        let line = match self.format {
            LogFormat::Json => {
                let obj = serde_json::json!({
                    "level": level,
                    "msg": msg.0,
                    "time": time,
                    "target": meta.target(),
                });
                format!("{obj}\n")
            }
            LogFormat::Text => format!("{time} {level:>5} {}: {}\n", meta.target(), msg.0),
        };
        if let Ok(mut sink) = self.sink.lock() {
            // Nothing sensible to do if the log itself cannot be written.
            let _ = sink.write_all(line.as_bytes());
            let _ = sink.flush();
        }
    }
}

type Handle = tracing_subscriber::reload::Handle<LevelFilter, tracing_subscriber::Registry>;
static RELOAD: OnceLock<Handle> = OnceLock::new();

/// Changes the level after start-up (the config file may set it).
pub fn set_level(level: LevelFilter) {
    if let Some(h) = RELOAD.get() {
        let _ = h.modify(|l| *l = level);
    }
}

/// Installs the global subscriber. Never fails: if the log file cannot be
/// opened, logs go to stderr with a warning (as youki does).
/// Returns true when logs go to a file.
pub fn init(file: Option<&Path>, format: LogFormat, level: LevelFilter) -> bool {
    let mut warning = None;
    let (sink, to_file): (Sink, bool) = match file {
        None => (Box::new(std::io::stderr()), false),
        Some(p) => match OpenOptions::new().create(true).append(true).open(p) {
            Ok(f) => (Box::new(f), true),
            Err(e) => {
                warning = Some(format!(
                    "cannot open log file {}: {e}; logging to stderr",
                    p.display()
                ));
                (Box::new(std::io::stderr()), false)
            }
        },
    };
    let layer = LineLayer {
        sink: Mutex::new(sink),
        format,
    };
    let (filter, handle) = tracing_subscriber::reload::Layer::new(level);
    let _ = RELOAD.set(handle);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    to_file
}
