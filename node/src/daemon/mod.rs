//! The tokio daemon: the I/O shell around the protocol cores.
//!
//! [`links`] keeps one sealed TCP link per peer, [`driver`] owns every
//! instance and carries out their effects, [`control_server`] answers the CLI
//! on a Unix socket, [`metrics`] serves Prometheus metrics and `/healthz`,
//! [`storage`] makes decisions, evidence and the signing state durable, and
//! [`reload`] decides what a SIGHUP may change.

pub mod accept;
pub mod calibrate;
pub mod control_server;
pub mod driver;
pub mod links;
pub mod log_limit;
pub mod logging;
pub mod metrics;
pub mod reload;
pub mod storage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use generals_config::NodeConfig;
use generals_crypto::NodeKey;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::protocol::adversary::Coalition;
use crate::protocol::{Keyring, Node, NodeLimits};
use driver::Driver;
use links::LinkContext;

/// How long a stopping node keeps finishing in-flight instances. systemd
/// and the issue both give a node 5 s; keep a margin for the exit itself.
const DRAIN_LIMIT: Duration = Duration::from_secs(4);

/// How `generals node` was started.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    pub config: PathBuf,
    /// Honour the config's `[fault]` section (tests and demonstrations only).
    pub allow_faults: bool,
    pub unsafe_reset_sign_state: bool,
}

/// Runs a node in the foreground until SIGTERM or SIGINT.
pub fn run(opts: DaemonOptions) -> anyhow::Result<()> {
    let cfg = NodeConfig::load(&opts.config)?;
    logging::init(&cfg);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(serve(cfg, opts))
}

/// " (`key` comes from environment variable VAR)" when an override set it:
/// an error about the value must send the operator to the variable, not the file.
fn set_by(cfg: &NodeConfig, key: &str) -> String {
    cfg.env_var_of(key)
        .map(|var| format!(" (`{key}` comes from environment variable {var})"))
        .unwrap_or_default()
}

/// What a failed bind most likely means, as the start of a sentence that
/// ends with where to change the address.
fn bind_hint(addr: std::net::SocketAddr, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "is another process using the port? ".to_owned(),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this host: use one of its own, or {} for all of them; ",
            addr.ip(),
            if addr.is_ipv4() { "0.0.0.0" } else { "::" }
        ),
        std::io::ErrorKind::PermissionDenied => {
            "a port below 1024 needs a privilege this node does not have: use a port >= 1024; "
                .to_owned()
        }
        _ => String::new(),
    }
}

/// An error about `key`'s value, with [`set_by`]'s note when an override set it.
fn about<'a, E>(cfg: &'a NodeConfig, key: &'a str) -> impl FnOnce(E) -> anyhow::Error + 'a
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| match cfg.env_var_of(key) {
        Some(_) => anyhow::anyhow!("{e}{}", set_by(cfg, key)),
        None => anyhow::Error::new(e),
    }
}

/// Why a node with a `[fault]` strategy will not start without
/// --allow-faults, naming the variable when the strategy came from one.
fn fault_refusal(cfg: &NodeConfig, strategy: &str) -> String {
    let allow = "or pass --allow-faults for a test or demonstration";
    match cfg.env_var_of("fault.strategy") {
        Some(var) => format!(
            "environment variable {var}={strategy} gives this node a [fault] strategy, which makes \
             it a traitor; refusing to start. Unset {var} (and every other GENERALS_FAULT__* \
             variable), {allow}"
        ),
        None => format!(
            "{} has a [fault] section, which makes this node a traitor; refusing to start. \
             Remove the section, {allow}",
            cfg.file.display()
        ),
    }
}

async fn serve(cfg: NodeConfig, opts: DaemonOptions) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Handled from here on: SIGHUP's default action would kill the node.
    let mut sighup = signal(SignalKind::hangup())?;
    let me = cfg.id;
    let key = Arc::new(NodeKey::load(cfg.key_path()).map_err(about(&cfg, "key_file"))?);
    let public = key.public();
    let listed = cfg.peer(me).map(|p| p.pubkey);
    if listed != Some(public) {
        bail!(
            "the key in {} has public key {public}, but {} lists {} for node {me}; \
             point key_file at this node's key or fix peers[{me}].pubkey",
            cfg.key_path().display(),
            cfg.file.display(),
            listed.map_or("nothing".to_owned(), |k| k.to_string()),
        );
    }
    let (coalition, fault_name) = match (&cfg.fault, opts.allow_faults) {
        (Some(f), true) => {
            warn!(strategy = %f.strategy, "running as a TRAITOR: the [fault] section is active (--allow-faults)");
            let c = Coalition::new(
                BTreeMap::from([(me, f.strategy)]),
                BTreeMap::from([(me, key.clone())]),
                f.seed,
            )
            .with_targets(f.targets.iter().copied())
            .with_cluster(generals_crypto::ClusterId::of(&cfg.public_keys()))
            .with_delay(if f.delay_ms > 0 {
                Duration::from_millis(f.delay_ms)
            } else {
                cfg.round_timeout() * 4
            });
            (
                Some(Arc::new(std::sync::Mutex::new(c))),
                Some(f.strategy.to_string()),
            )
        }
        (Some(f), false) => bail!("{}", fault_refusal(&cfg, f.strategy.as_str())),
        (None, _) => (None, None),
    };
    let (mut storage, sign, past) =
        storage::Storage::open(cfg.data_dir(), me, &public, opts.unsafe_reset_sign_state)
            .map_err(about(&cfg, "data_dir"))?;
    let keys = Arc::new(Keyring::new(me, key, cfg.public_keys()));

    let listener = TcpListener::bind(cfg.listen).await.map_err(|e| {
        // Inside the ephemeral range, the usual culprit is another
        // general's outgoing connection, not a second daemon.
        let ephemeral = (e.kind() == std::io::ErrorKind::AddrInUse)
            .then(|| {
                generals_config::ports::ephemeral_warning(cfg.listen.port()..=cfg.listen.port())
            })
            .flatten()
            .map(|w| format!("; {w}"))
            .unwrap_or_default();
        let msg = format!(
            "cannot listen on {} ({}change `listen` in {}){}{ephemeral}",
            cfg.listen,
            bind_hint(cfg.listen, &e),
            cfg.file.display(),
            set_by(&cfg, "listen")
        );
        anyhow::Error::new(e).context(msg)
    })?;
    let control = control_server::bind(&crate::control::socket_path(cfg.data_dir()))?;

    let (link_tx, mut link_rx) = mpsc::channel(4096);
    let (control_tx, mut control_rx) = mpsc::channel(64);
    let (delayed_tx, mut delayed_rx) = mpsc::channel(1024);
    let addrs = cfg.peers.iter().map(|p| p.addr).collect();
    let ctx = LinkContext::new(
        keys.clone(),
        addrs,
        cfg.max_frame_bytes,
        cfg.send_queue_frames,
        link_tx,
    );
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(links::accept_loop(ctx.clone(), listener));
    for p in cfg.peers.iter().filter(|p| p.id > me) {
        tasks.spawn(links::dial_loop(ctx.clone(), p.id));
    }
    tasks.spawn(control_server::serve(control, control_tx));
    let metrics = Arc::new(metrics::Metrics::new(me, cfg.n()));
    if let Some(listener) = metrics::bind(&cfg).await? {
        tasks.spawn(metrics::serve(listener, metrics.clone()));
    }

    // Measured here, before the node is ready, so no round waits for it.
    let round = calibrate::limits(&cfg);
    calibrate::log(&cfg, &round);
    let mut running = cfg.clone();
    let cfg = Arc::new(cfg);
    let limits = NodeLimits::new(round, cfg.max_instances, cfg.max_frame_bytes);
    let mut node = Node::new(keys, limits, sign, past);
    node.restore_report_counts(&storage.take_report_counts());
    if let (Some(c), Some(name)) = (coalition, fault_name) {
        node = node.with_coalition(c, name);
    }
    let mut driver = Driver::new(cfg.clone(), node, storage, delayed_tx, metrics);
    info!(id = %me, listen = %cfg.listen, n = cfg.n(), data_dir = %cfg.data_dir().display(), "node started");
    // Ready once peers can connect and the CLI can talk to us (Type=notify).
    let status = format!("general {me} of {}, listening on {}", cfg.n(), cfg.listen);
    notify_systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
    let mut watchdog = Watchdog::from_env();

    let mut sigterm = signal(SignalKind::terminate())?;
    // On SIGTERM/SIGINT: refuse new orders, let in-flight instances finish
    // (their decisions are fsynced as they come), and exit by DRAIN_LIMIT.
    let mut draining: Option<Instant> = None;
    let mut timer = Timeline::default();
    loop {
        if let Some(since) = draining {
            let active = driver.active_instances();
            if active == 0 || since.elapsed() >= DRAIN_LIMIT {
                if active > 0 {
                    warn!(
                        active,
                        "drain limit reached; abandoning unfinished instances"
                    );
                }
                break;
            }
        }
        let drain_end = draining.map(|t| t + DRAIN_LIMIT);
        let deadline = match (driver.next_deadline(), drain_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(tokio::time::Instant::from_std);
        timer.next(deadline.map(tokio::time::Instant::into_std));
        let signal = tokio::select! {
            Some(ev) = link_rx.recv() => { driver.on_link(ev, Instant::now()); false }
            Some((req, reply)) = control_rx.recv() => { driver.on_control(req, reply, Instant::now()); false }
            Some((to, msg)) = delayed_rx.recv() => {
                driver.send_now(to, msg);
                false
            }
            _ = sleep_until(deadline) => {
                // Frames already received count before a timer closes their
                // round; the bound keeps a flood from starving the timer.
                for _ in 0..link_rx.len() {
                    let Ok(ev) = link_rx.try_recv() else { break };
                    driver.on_link(ev, Instant::now());
                }
                driver.on_tick(Instant::now());
                false
            }
            _ = tokio::signal::ctrl_c() => true,
            _ = sigterm.recv() => true,
            _ = sighup.recv() => {
                if draining.is_some() {
                    warn!("SIGHUP ignored: the node is draining");
                } else {
                    reload_config(&opts.config, &mut running, &ctx, &mut driver);
                    notify_systemd(&[
                        sd_notify::NotifyState::Ready,
                        sd_notify::NotifyState::Status(&status),
                    ]);
                }
                false
            }
            // Sent from this loop, so a wedged loop stops it and systemd
            // restarts the node.
            _ = watchdog.tick() => {
                notify_systemd(&[sd_notify::NotifyState::Watchdog]);
                false
            }
        };
        if signal && draining.is_none() {
            let active = driver.active_instances();
            info!(active, "signal received; draining");
            notify_systemd(&[
                sd_notify::NotifyState::Stopping,
                sd_notify::NotifyState::Status(&format!(
                    "general {me} of {}, draining {active} instance(s)",
                    cfg.n()
                )),
            ]);
            driver.start_draining();
            draining = Some(Instant::now());
        }
    }
    info!("shutting down");
    tasks.abort_all();
    let _ = std::fs::remove_file(crate::control::socket_path(&driver.data_dir()));
    Ok(())
}

/// SIGHUP: reads the config file again (same path, same environment) and
/// applies what [`reload::plan`] allows, one log line per change; a file
/// that does not load changes nothing. systemd hears RELOADING=1 first; the
/// caller sends READY=1 after.
fn reload_config(path: &Path, running: &mut NodeConfig, ctx: &LinkContext, driver: &mut Driver) {
    let mut reloading = vec![sd_notify::NotifyState::Reloading];
    // systemd 253 and newer want the time with RELOADING=1.
    reloading.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
    notify_systemd(&reloading);
    info!(file = %path.display(), "SIGHUP: reloading the config");
    let new = match NodeConfig::load(path) {
        Ok(new) => new,
        Err(e) => {
            warn!(error = %e, "reload refused: the config does not load; running on with the config as it was");
            return;
        }
    };
    let plan = reload::plan(running, &new, logging::rust_log_set());
    for r in &plan.refused {
        let c = &r.change;
        warn!(
            "reload refused {} ({} → {}): {}",
            c.key, c.old, c.new, r.reason
        );
    }
    for c in &plan.applied {
        info!("reloaded {}: {} → {}", c.key, c.old, c.new);
    }
    if plan.peers_moved() {
        for p in &plan.config.peers {
            ctx.set_addr(p.id, p.addr);
            driver.set_peer_addr(p.id, p.addr);
        }
    }
    if plan.log_changed() {
        if let Err(e) = logging::set_filter(&plan.config.log) {
            warn!(error = %e, "the new log filter could not be installed");
        }
    }
    if plan.rounds_changed() {
        let round = calibrate::limits(&plan.config);
        calibrate::log(&plan.config, &round);
        driver.set_round_limits(round);
    }
    if plan.applied.is_empty() && plan.refused.is_empty() {
        info!("reload: nothing changed");
    }
    *running = plan.config;
}

/// The systemd watchdog: when the unit sets `WatchdogSec=`, WATCHDOG=1 at
/// half the interval systemd gives in `WATCHDOG_USEC`.
#[derive(Debug)]
struct Watchdog(Option<tokio::time::Interval>);

impl Watchdog {
    fn from_env() -> Watchdog {
        let every = watchdog_interval(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        );
        if let Some(every) = every {
            info!(every_ms = every.as_millis() as u64, "systemd watchdog on");
        }
        Watchdog(every.map(|every| {
            let mut i = tokio::time::interval(every);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        }))
    }

    async fn tick(&mut self) {
        match &mut self.0 {
            Some(i) => {
                i.tick().await;
            }
            None => std::future::pending().await,
        }
    }
}

/// How often to send WATCHDOG=1: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
/// reads it: the variable must be a positive number of microseconds, and
/// `WATCHDOG_PID`, when set, must be this process (a child does not inherit
/// its parent's watchdog).
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(me) {
            return None;
        }
    }
    Some(Duration::from_micros(usec) / 2)
}

/// A debug log (target `generals_node::daemon::timer`) each time the node's
/// next wake-up changes, as when an instance enters a round: set against the
/// instance's deadlines it shows how long each round's work took.
#[derive(Debug, Default)]
struct Timeline {
    deadline: Option<Instant>,
}

impl Timeline {
    fn next(&mut self, deadline: Option<Instant>) {
        if deadline != std::mem::replace(&mut self.deadline, deadline) {
            let now = Instant::now();
            let in_ms = deadline.map(|d| d.saturating_duration_since(now).as_millis());
            debug!(target: "generals_node::daemon::timer", ?in_ms, "next wake-up");
        }
    }
}

/// Tells systemd (if it started us with NOTIFY_SOCKET) how the node is doing.
/// Without the variable this does nothing; a failure to notify is logged, not
/// fatal: the node works the same under any supervisor.
fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        warn!(error = %e, "could not notify systemd");
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_pings_at_half_the_interval_systemd_gives_this_process() {
        let half = Some(Duration::from_millis(1500));
        assert_eq!(watchdog_interval(Some("3000000"), Some("42"), 42), half);
        assert_eq!(watchdog_interval(Some("3000000"), None, 42), half);
        // Meant for another process (a parent's environment, inherited).
        assert_eq!(watchdog_interval(Some("3000000"), Some("41"), 42), None);
        for bad in ["", "0", "-5", "3s"] {
            assert_eq!(watchdog_interval(Some(bad), None, 42), None, "{bad:?}");
        }
        assert_eq!(watchdog_interval(None, Some("42"), 42), None);
    }
}
