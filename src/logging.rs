//! Run-time log levels: the BROKER_LOGGER resource of Kafka's config APIs, mapped onto the
//! `log` crate's targets (module paths such as `kafka_broker::server`). A level set for a
//! target applies to it and the targets below it unless they have their own, and overrides
//! what `RUST_LOG` says; `root` is every target's ancestor. [`install`] wraps env_logger so
//! its fixed filter is consulted only where no level was set at run time. Invariant: with no
//! level set, a record costs what env_logger alone costs (`log::max_level` still gates every
//! macro first, and one atomic load decides to skip the table).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Kafka's name for the logger above all others.
pub const ROOT: &str = "root";

/// The level names Kafka accepts (`LogLevelConfig.VALID_LOG_LEVELS`), sorted as Kafka lists
/// them in its error message. FATAL maps to ERROR (the `log` crate has no fatal level).
pub const LEVEL_NAMES: &[&str] = &["DEBUG", "ERROR", "FATAL", "INFO", "TRACE", "WARN"];

/// The crate's log targets: its module paths. A logger that exists is one of these, `root`,
/// or a target a level was set for.
pub const TARGETS: &[&str] = &[
    "kafka_broker",
    "kafka_broker::apis",
    "kafka_broker::apis::alter_client_quotas",
    "kafka_broker::apis::alter_user_scram_credentials",
    "kafka_broker::apis::api_versions",
    "kafka_broker::apis::config_change",
    "kafka_broker::apis::create_partitions",
    "kafka_broker::apis::create_topics",
    "kafka_broker::apis::delete_groups",
    "kafka_broker::apis::delete_records",
    "kafka_broker::apis::delete_topics",
    "kafka_broker::apis::describe_log_dirs",
    "kafka_broker::apis::fetch",
    "kafka_broker::apis::init_producer_id",
    "kafka_broker::apis::list_offsets",
    "kafka_broker::apis::metadata",
    "kafka_broker::apis::offset_commit",
    "kafka_broker::apis::offset_delete",
    "kafka_broker::apis::produce",
    "kafka_broker::apis::sasl_authenticate",
    "kafka_broker::apis::sasl_handshake",
    "kafka_broker::apis::txn_common",
    "kafka_broker::apis::txn_offset_commit",
    "kafka_broker::apis::write_txn_markers",
    "kafka_broker::broker",
    "kafka_broker::config",
    "kafka_broker::configs",
    "kafka_broker::consumer_groups",
    "kafka_broker::consumer_groups::records",
    "kafka_broker::context",
    "kafka_broker::coordinator",
    "kafka_broker::logging",
    "kafka_broker::protocol",
    "kafka_broker::security::authorizer",
    "kafka_broker::server",
    "kafka_broker::storage",
    "kafka_broker::storage::checkpoint",
    "kafka_broker::storage::cleaner",
    "kafka_broker::storage::deletion",
    "kafka_broker::storage::dynamic",
    "kafka_broker::storage::index",
    "kafka_broker::storage::leader_epoch",
    "kafka_broker::storage::log",
    "kafka_broker::storage::log_start",
    "kafka_broker::storage::offsets",
    "kafka_broker::storage::offsets_expiry",
    "kafka_broker::storage::partitions",
    "kafka_broker::storage::snapshot",
    "kafka_broker::storage::sync",
    "kafka_broker::storage::txn",
    "kafka_broker::storage::txn_log",
    "kafka_broker::storage::write_health",
];

/// Levels set at run time: (target, level name as given, filter).
static LEVELS: Mutex<Vec<(String, &'static str, LevelFilter)>> = Mutex::new(Vec::new());
/// Whether `LEVELS` holds anything, read on every record the static filter would judge.
static ANY_SET: AtomicBool = AtomicBool::new(false);
/// The installed logger, if any (tests and the fuzz target run without one).
static LOGGER: OnceLock<Logger> = OnceLock::new();

struct Logger {
    /// `RUST_LOG`'s filter (default `info`): the level of targets with none set here.
    filter: env_logger::Logger,
    /// Formats and writes every record it is given.
    writer: env_logger::Logger,
}

/// Installs the logger: env_logger's output, `RUST_LOG`'s levels, and the run-time table.
pub fn install() {
    let env = env_logger::Env::default().default_filter_or("info");
    let filter = env_logger::Builder::from_env(env).build();
    // The writer judges nothing: RUST_LOG's module directives must not hide a record that a
    // level set at run time lets through.
    let style = std::env::var("RUST_LOG_STYLE").unwrap_or_default();
    let writer = env_logger::Builder::new()
        .filter_level(LevelFilter::Trace)
        .parse_write_style(&style)
        .build();
    let default_max = filter.filter();
    if LOGGER.set(Logger { filter, writer }).is_ok() {
        if let Some(logger) = LOGGER.get() {
            let _ = log::set_logger(logger);
        }
        log::set_max_level(default_max);
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        match ANY_SET.load(Ordering::Relaxed) {
            true => match set_level_of(metadata.target()) {
                Some((_, filter)) => metadata.level() <= filter,
                None => self.filter.enabled(metadata),
            },
            false => self.filter.enabled(metadata),
        }
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            self.writer.log(record);
        }
    }

    fn flush(&self) {
        self.writer.flush();
    }
}

/// The most specific level set for `target` or an ancestor (`root` last).
fn set_level_of(target: &str) -> Option<(&'static str, LevelFilter)> {
    let levels = LEVELS.lock().ok()?;
    let mut best: Option<(usize, &'static str, LevelFilter)> = None;
    for (name, level_name, filter) in levels.iter() {
        let depth = if name == ROOT {
            Some(0)
        } else if is_within(target, name) {
            Some(name.len() + 1)
        } else {
            None
        };
        if let Some(depth) = depth
            && best.is_none_or(|(d, ..)| depth > d)
        {
            best = Some((depth, level_name, *filter));
        }
    }
    best.map(|(_, name, filter)| (name, filter))
}

/// Whether `target` is `ancestor` or below it (`a::b` is within `a`).
fn is_within(target: &str, ancestor: &str) -> bool {
    target == ancestor
        || target
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// A Kafka level name as a filter.
pub fn parse_level(name: &str) -> Option<(&'static str, LevelFilter)> {
    let filter = match name {
        "TRACE" => LevelFilter::Trace,
        "DEBUG" => LevelFilter::Debug,
        "INFO" => LevelFilter::Info,
        "WARN" => LevelFilter::Warn,
        "ERROR" | "FATAL" => LevelFilter::Error,
        _ => return None,
    };
    LEVEL_NAMES
        .iter()
        .find(|n| **n == name)
        .map(|n| (*n, filter))
}

/// Whether a logger of this name exists: `root`, one of the crate's targets, or a target
/// that has a level set.
pub fn exists(name: &str) -> bool {
    name == ROOT
        || TARGETS.contains(&name)
        || LEVELS
            .lock()
            .is_ok_and(|levels| levels.iter().any(|(n, ..)| n == name))
}

/// Sets a logger's level (the caller has checked it exists and the level is valid).
pub fn set(name: &str, level_name: &str) {
    let Some((level_name, filter)) = parse_level(level_name) else {
        return;
    };
    if let Ok(mut levels) = LEVELS.lock() {
        levels.retain(|(n, ..)| n != name);
        levels.push((name.to_string(), level_name, filter));
        ANY_SET.store(true, Ordering::Relaxed);
    }
    raise_max_level();
    log::warn!("Updated the log level of {name} to {level_name}");
}

/// Removes a logger's level: it follows its ancestors (or `RUST_LOG`) again.
pub fn unset(name: &str) {
    if let Ok(mut levels) = LEVELS.lock() {
        levels.retain(|(n, ..)| n != name);
        ANY_SET.store(!levels.is_empty(), Ordering::Relaxed);
    }
    raise_max_level();
    log::warn!("Unset the log level of {name}");
}

/// `log::max_level` gates every macro before the logger is asked, so it must admit the most
/// verbose level any target may now log at.
fn raise_max_level() {
    let Some(logger) = LOGGER.get() else {
        return;
    };
    let (set_max, root_set) = LEVELS
        .lock()
        .map(|levels| {
            let max = levels.iter().map(|(_, _, f)| *f).max();
            let root = levels.iter().any(|(n, ..)| n == ROOT);
            (max.unwrap_or(LevelFilter::Off), root)
        })
        .unwrap_or((LevelFilter::Off, false));
    // With `root` set every target has a level here, so RUST_LOG's no longer counts.
    let static_max = match root_set {
        true => LevelFilter::Off,
        false => logger.filter.filter(),
    };
    log::set_max_level(set_max.max(static_max));
}

/// Every logger with its effective level name, `root` first, then the crate's targets and
/// any other target a level was set for, sorted.
pub fn loggers() -> Vec<(String, String)> {
    let mut names: Vec<String> = TARGETS.iter().map(|t| t.to_string()).collect();
    if let Ok(levels) = LEVELS.lock() {
        for (name, ..) in levels.iter() {
            if name != ROOT && !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names.sort();
    let mut out = vec![(ROOT.to_string(), effective(ROOT))];
    out.extend(names.into_iter().map(|n| {
        let level = effective(&n);
        (n, level)
    }));
    out
}

/// A logger's effective level name: the level set for it or an ancestor, else what the
/// static filter gives the target.
fn effective(name: &str) -> String {
    let target = if name == ROOT { "" } else { name };
    let set = if name == ROOT {
        LEVELS.lock().ok().and_then(|levels| {
            levels
                .iter()
                .find(|(n, ..)| n == ROOT)
                .map(|(_, level_name, _)| *level_name)
        })
    } else {
        set_level_of(target).map(|(n, _)| n)
    };
    if let Some(level_name) = set {
        return level_name.to_string();
    }
    let enabled = |level: Level| match LOGGER.get() {
        Some(logger) => {
            let metadata = Metadata::builder().level(level).target(target).build();
            logger.filter.enabled(&metadata)
        }
        None => level <= log::max_level(),
    };
    let level = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
    ]
    .into_iter()
    .find(|&l| enabled(l));
    match level {
        Some(l) => l.as_str().to_string(),
        None => "OFF".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_apply_to_a_target_and_below_it() {
        assert!(is_within(
            "kafka_broker::storage::log",
            "kafka_broker::storage"
        ));
        assert!(!is_within(
            "kafka_broker::storage2",
            "kafka_broker::storage"
        ));
        assert_eq!(parse_level("FATAL"), Some(("FATAL", LevelFilter::Error)));
        assert_eq!(parse_level("debug"), None);
        assert!(exists("root") && exists("kafka_broker::server") && !exists("x.y"));
        set("kafka_broker::storage", "TRACE");
        set("kafka_broker::storage::log", "WARN");
        assert_eq!(
            set_level_of("kafka_broker::storage::offsets"),
            Some(("TRACE", LevelFilter::Trace))
        );
        assert_eq!(
            set_level_of("kafka_broker::storage::log"),
            Some(("WARN", LevelFilter::Warn))
        );
        assert_eq!(set_level_of("kafka_broker::server"), None);
        let all = loggers();
        assert_eq!(all[0].0, "root");
        let level = |name: &str| all.iter().find(|(n, _)| n == name).map(|(_, l)| l.clone());
        assert_eq!(
            level("kafka_broker::storage::dynamic").as_deref(),
            Some("TRACE")
        );
        assert_eq!(level("kafka_broker::storage::log").as_deref(), Some("WARN"));
        unset("kafka_broker::storage");
        unset("kafka_broker::storage::log");
        assert_eq!(set_level_of("kafka_broker::storage::log"), None);
        assert!(!ANY_SET.load(Ordering::Relaxed));
    }

    #[test]
    fn every_module_that_logs_is_a_target() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![src.clone()];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    files.push(entry.unwrap().path());
                }
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let logs = ["info!(", "warn!(", "error!(", "debug!(", "trace!("]
                .iter()
                .any(|m| text.contains(m));
            let relative = path.strip_prefix(&src).unwrap().with_extension("");
            let module = relative.to_string_lossy().replace('/', "::");
            let module = module.trim_end_matches("::mod");
            if !logs || module == "main" || module == "lib" {
                continue;
            }
            let target = format!("kafka_broker::{module}");
            assert!(
                TARGETS.contains(&target.as_str()),
                "{target} logs but is not in TARGETS"
            );
        }
    }
}
