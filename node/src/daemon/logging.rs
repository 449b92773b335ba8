//! Where and how the daemon's log lines go: `log_format` (plain or JSON),
//! and journald's priorities when stderr is the journal.
//!
//! Under systemd, stderr is a stream to journald, which stamps every line
//! with its own time and stores it at the priority a leading `<N>` gives
//! (sd-daemon(3)); without the prefix, every line is stored at "info". So
//! when stderr is the journal, each line starts with its level's `<N>` and
//! carries no timestamp of its own.
//!
//! Why a prefix on stderr and not `tracing-journald` (native protocol on
//! /run/systemd/journal/socket): the prefix needs nothing but the stream
//! systemd already gave us, so it keeps working under the unit's sandboxing
//! (no extra socket to reach, nothing to fall back from when it is missing
//! inside a container), keeps log lines and a panic's message in one ordered
//! stream, needs no new dependency, and can be tested end to end by pointing
//! `JOURNAL_STREAM` at a file. What it gives up is structured journal fields
//! (each tracing field as its own `FIELD=`): `log_format = "json"` puts them
//! in the message instead, one JSON object per line.

use std::fmt;
use std::io::IsTerminal;
use std::sync::OnceLock;

use generals_config::{LogFormat, NodeConfig};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

type Output = Box<dyn Layer<Registry> + Send + Sync>;

/// The installed filter, which a reload replaces (`set_filter`).
static FILTER: OnceLock<reload::Handle<EnvFilter, Layered<Output, Registry>>> = OnceLock::new();

/// Whether `RUST_LOG` chooses the filter, hiding the config's `log` key.
pub fn rust_log_set() -> bool {
    std::env::var_os("RUST_LOG").is_some()
}

/// Installs the global subscriber for `cfg.log` (or `RUST_LOG`) and
/// `cfg.log_format`. A second call does nothing.
pub fn init(cfg: &NodeConfig) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(&cfg.log));
    let (filter, handle) = reload::Layer::new(filter);
    let journal = stderr_is_journal(
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        stderr_dev_ino(),
    );
    // Colour only on a terminal: log files and the journal get plain text.
    let ansi =
        !journal && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let base = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let plain = tracing_subscriber::fmt::format();
    let layer: Output = match (cfg.log_format, journal) {
        (LogFormat::Plain, false) => base.boxed(),
        (LogFormat::Plain, true) => base.event_format(Prefixed(plain.without_time())).boxed(),
        (LogFormat::Json, false) => base.json().boxed(),
        (LogFormat::Json, true) => base
            .json()
            .event_format(Prefixed(plain.json().without_time()))
            .boxed(),
    };
    if tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init()
        .is_ok()
    {
        let _ = FILTER.set(handle);
    }
}

/// Replaces the log filter with `spec` (the `log` key's syntax), for a
/// reload. An invalid spec changes nothing and says why.
pub fn set_filter(spec: &str) -> Result<(), String> {
    let filter =
        EnvFilter::try_new(spec).map_err(|e| format!("{spec:?} is not a log filter: {e}"))?;
    let handle = FILTER
        .get()
        .ok_or_else(|| "this process did not install the node's logger".to_owned())?;
    handle.reload(filter).map_err(|e| e.to_string())
}

/// The syslog priority journald stores a line of `level` at: `<3>` error,
/// `<4>` warning, `<6>` info, `<7>` debug (trace is debug too).
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Whether stderr is the journal stream systemd set up: `JOURNAL_STREAM`
/// holds `DEVICE:INODE` of that stream, and a child whose stderr was
/// redirected elsewhere inherits the variable all the same, so it must match
/// stderr. If stderr cannot be looked at (no /proc), the variable is trusted.
pub fn stderr_is_journal(journal_stream: Option<&str>, stderr: Option<(u64, u64)>) -> bool {
    let Some((dev, ino)) = journal_stream.and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.trim().parse::<u64>(), ino.trim().parse::<u64>()) else {
        return false;
    };
    stderr.is_none_or(|s| s == (dev, ino))
}

/// What goes in front of each line of an error the binary prints on its way
/// out: `<3>` (err) when stderr is the journal, so that error is stored at
/// the priority of the log's own errors, not at info; nothing elsewhere.
pub fn exit_error_prefix() -> &'static str {
    let journal = stderr_is_journal(
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        stderr_dev_ino(),
    );
    if journal {
        "<3>"
    } else {
        ""
    }
}

/// Device and inode of fd 2, as `JOURNAL_STREAM` spells them.
fn stderr_dev_ino() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/self/fd/2").ok()?;
    Some((m.dev(), m.ino()))
}

/// Another line format with the journal's `<N>` priority in front.
#[derive(Debug)]
struct Prefixed<F>(F);

impl<S, N, F> FormatEvent<S, N> for Prefixed<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_sd_daemon_priorities() {
        let got: Vec<u8> = [
            Level::ERROR,
            Level::WARN,
            Level::INFO,
            Level::DEBUG,
            Level::TRACE,
        ]
        .into_iter()
        .map(priority)
        .collect();
        assert_eq!(got, [3, 4, 6, 7, 7]);
    }

    #[test]
    fn journal_stream_must_name_stderr() {
        assert!(!stderr_is_journal(None, Some((1, 2))));
        assert!(stderr_is_journal(Some("1:2"), Some((1, 2))));
        // Inherited by a process whose stderr went elsewhere.
        assert!(!stderr_is_journal(Some("1:2"), Some((1, 3))));
        assert!(!stderr_is_journal(Some("9:2"), Some((1, 2))));
        // Stderr cannot be looked at: trust the variable.
        assert!(stderr_is_journal(Some("1:2"), None));
        for bad in ["", "1", "x:2", "1:2:3", ":"] {
            assert!(!stderr_is_journal(Some(bad), None), "{bad:?}");
        }
    }
}
