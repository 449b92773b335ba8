//! A local cluster of real `generals node` processes on loopback: what
//! `generals demo` runs and what the end-to-end tests drive.
//!
//! It writes a testnet into a fresh directory, starts one process per
//! general, talks to each over its control socket, and on drop kills every
//! process it started and removes the directory.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use generals_config::{generate_testnet, FaultStrategy, NodeConfig, TestnetOptions};
use generals_crypto::{InstanceId, NodeId, Order, PublicKey};
use generals_wire::Protocol;

use crate::control::{ControlRequest, ControlResponse, LinkState, NodeStatus};
use crate::report::InstanceReport;

/// A traitor's `[fault]` section.
#[derive(Clone, Debug)]
pub struct Fault {
    pub strategy: FaultStrategy,
    pub targets: Vec<NodeId>,
}

#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub nodes: usize,
    pub round_timeout_ms: u64,
    pub faults: BTreeMap<NodeId, Fault>,
    /// Keep the directory on drop (for debugging a failure).
    pub keep: bool,
    /// Node i listens on `base_port + i`; `None`: a free range in 20000..30000.
    pub base_port: Option<u16>,
    /// `max_instances` for every node (`GENERALS_MAX_INSTANCES`); `None`: the default.
    pub max_instances: Option<usize>,
    /// Every traitor's `[fault] seed` (random strategies, late-reveal's timing).
    pub fault_seed: u64,
}

impl ClusterOptions {
    pub fn new(nodes: usize) -> ClusterOptions {
        ClusterOptions {
            nodes,
            round_timeout_ms: 500,
            faults: BTreeMap::new(),
            keep: false,
            base_port: None,
            max_instances: None,
            fault_seed: 0,
        }
    }
}

#[derive(Debug)]
pub struct LocalNode {
    pub id: NodeId,
    pub config: PathBuf,
    pub log: PathBuf,
    pub public: PublicKey,
    child: Option<Child>,
}

#[derive(Debug)]
pub struct LocalCluster {
    pub dir: PathBuf,
    pub nodes: Vec<LocalNode>,
    bin: PathBuf,
    opts: ClusterOptions,
}

/// A base port with `n` free consecutive ports after it. Clusters made by one
/// process (tests run in parallel threads) get disjoint ranges from a counter;
/// the process id spreads processes apart; each range is checked before use.
fn free_base_port(n: usize) -> anyhow::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Below 32768, where Linux starts the ephemeral ports that outgoing
    // connections (the dialers') take; above 30000 is left to test proxies.
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 10_000;
    let process = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..200 {
        let offset = NEXT.fetch_add(n as u32, Ordering::Relaxed);
        let base = FIRST + (process + offset) % (SPAN - n as u32);
        let base = u16::try_from(base)?;
        if (0..n as u16).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return Ok(base);
        }
    }
    bail!("could not find {n} free consecutive ports on 127.0.0.1")
}

/// `base` if the `n` ports from it are free on 127.0.0.1.
fn ports_free(base: u16, n: usize) -> anyhow::Result<u16> {
    let last = usize::from(base) + n.saturating_sub(1);
    if last > usize::from(u16::MAX) {
        bail!(
            "base port {base} leaves no room for {n} nodes; choose a base port below {}",
            65_536 - n
        );
    }
    for port in (0..n).map(|i| usize::from(base) + i) {
        let port = u16::try_from(port)?;
        if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
            bail!(
                "port {port} on 127.0.0.1 is taken ({e}): the cluster needs ports {base}..={last}; \
                 choose another base port (below 32768, where outgoing connections take theirs)"
            );
        }
    }
    Ok(base)
}

impl LocalCluster {
    /// Writes a testnet for `opts.nodes` generals in a fresh temporary
    /// directory. `bin` is the `generals` binary to run.
    pub fn create(bin: &Path, opts: ClusterOptions) -> anyhow::Result<LocalCluster> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("generals-cluster-{}-{stamp}", std::process::id()));
        let mut testnet = TestnetOptions::new(opts.nodes, &dir);
        testnet.base_port = match opts.base_port {
            Some(base) => ports_free(base, opts.nodes)?,
            None => free_base_port(opts.nodes)?,
        };
        testnet.round_timeout_ms = opts.round_timeout_ms;
        // One measurement for every node: the same deadlines everywhere.
        testnet.work_ps = Some(crate::daemon::calibrate::testnet_costs(opts.nodes));
        let written = generate_testnet(&testnet)?;
        let mut nodes = Vec::new();
        for node in written {
            if let Some(fault) = opts.faults.get(&node.id) {
                let targets: Vec<String> = fault.targets.iter().map(|t| t.to_string()).collect();
                let mut f = OpenOptions::new().append(true).open(&node.config_path)?;
                writeln!(
                    f,
                    "\n[fault]\nstrategy = \"{}\"\ntargets = [{}]\nseed = {}",
                    fault.strategy,
                    targets.join(", "),
                    opts.fault_seed
                )?;
            }
            nodes.push(LocalNode {
                id: node.id,
                log: node.dir.join("node.log"),
                config: node.config_path,
                public: node.public,
                child: None,
            });
        }
        Ok(LocalCluster {
            dir,
            nodes,
            bin: bin.to_owned(),
            opts,
        })
    }

    pub fn node(&self, id: NodeId) -> anyhow::Result<&LocalNode> {
        self.nodes
            .get(id.index())
            .with_context(|| format!("no node {id} in this cluster"))
    }

    pub fn is_faulty(&self, id: NodeId) -> bool {
        self.opts.faults.contains_key(&id)
    }

    pub fn faults(&self) -> &BTreeMap<NodeId, Fault> {
        &self.opts.faults
    }

    /// Starts node `id` (again, after a kill); its log is appended to node.log.
    pub fn start(&mut self, id: NodeId) -> anyhow::Result<()> {
        let faulty = self.is_faulty(id);
        let node = self
            .nodes
            .get_mut(id.index())
            .with_context(|| format!("no node {id}"))?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("node").arg("--config").arg(&node.config);
        if faulty {
            cmd.arg("--allow-faults");
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Our own control client must not inherit overrides meant for a shell.
        cmd.env_remove("GENERALS_LISTEN");
        if let Some(max) = self.opts.max_instances {
            cmd.env("GENERALS_MAX_INSTANCES", max.to_string());
        }
        node.child = Some(
            cmd.spawn()
                .with_context(|| format!("starting {}", self.bin.display()))?,
        );
        Ok(())
    }

    pub fn start_all(&mut self) -> anyhow::Result<()> {
        for id in 0..self.nodes.len() {
            self.start(NodeId(id as u16))?;
        }
        Ok(())
    }

    /// The process id of node `id`, while it runs.
    pub fn pid(&self, id: NodeId) -> Option<u32> {
        self.nodes
            .get(id.index())
            .and_then(|n| n.child.as_ref())
            .map(Child::id)
    }

    /// SIGKILL: the node gets no chance to clean up.
    pub fn kill(&mut self, id: NodeId) {
        if let Some(mut child) = self.nodes.get_mut(id.index()).and_then(|n| n.child.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `grace` for a clean exit (SIGKILL after).
    /// Returns how long the node took, or None if it had to be killed.
    pub fn stop(&mut self, id: NodeId, grace: Duration) -> Option<Duration> {
        let mut child = self
            .nodes
            .get_mut(id.index())
            .and_then(|n| n.child.take())?;
        let started = Instant::now();
        if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        while started.elapsed() < grace {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// SIGHUP: node `id` reloads its config. Whether the signal was sent.
    pub fn hangup(&self, id: NodeId) -> bool {
        let pid = self
            .nodes
            .get(id.index())
            .and_then(|n| n.child.as_ref())
            .and_then(|c| rustix::process::Pid::from_raw(c.id() as i32));
        pid.is_some_and(|pid| {
            rustix::process::kill_process(pid, rustix::process::Signal::HUP).is_ok()
        })
    }

    pub fn stop_all(&mut self) {
        for id in 0..self.nodes.len() {
            self.stop(NodeId(id as u16), Duration::from_secs(5));
        }
    }

    /// Whether node `id`'s process is still running.
    pub fn is_running(&mut self, id: NodeId) -> bool {
        self.nodes
            .get_mut(id.index())
            .and_then(|n| n.child.as_mut())
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// One control request to node `id`.
    pub fn call(&self, id: NodeId, req: ControlRequest) -> anyhow::Result<ControlResponse> {
        let node = self.node(id)?;
        crate::cli::client::request_blocking(&node.config, req)
    }

    pub fn status(&self, id: NodeId) -> anyhow::Result<NodeStatus> {
        match self.call(id, ControlRequest::Status { instance: None })? {
            ControlResponse::Status(s) => Ok(*s),
            other => bail!("node {id} answered status with {other:?}"),
        }
    }

    /// Waits until every running node has an authenticated link to every
    /// other running node.
    pub fn wait_connected(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let running: Vec<NodeId> = (0..self.nodes.len() as u16)
            .map(NodeId)
            .filter(|&id| self.is_running(id))
            .collect();
        loop {
            let mut missing = Vec::new();
            for &id in &running {
                match self.status(id) {
                    Ok(s) => {
                        for p in s.peers.iter().filter(|p| running.contains(&p.id)) {
                            if p.state == LinkState::Connecting {
                                missing.push(format!("{id}->{}", p.id));
                            }
                        }
                    }
                    Err(e) => missing.push(format!("{id}: {e:#}")),
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "cluster not connected after {timeout:?}: {}",
                    missing.join(", ")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Issues an order at `commander`; returns the instance id.
    pub fn order(
        &self,
        commander: NodeId,
        protocol: Protocol,
        m: u8,
        value: Order,
    ) -> anyhow::Result<InstanceId> {
        match self.call(
            commander,
            ControlRequest::Order {
                protocol,
                m,
                value,
                force: false,
            },
        )? {
            ControlResponse::Ordered { instance, .. } => Ok(instance),
            ControlResponse::Error { message } => {
                bail!("node {commander} refused the order: {message}")
            }
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// Waits for an instance's report at `node`.
    pub fn wait(
        &self,
        node: NodeId,
        instance: InstanceId,
        timeout: Duration,
    ) -> anyhow::Result<InstanceReport> {
        let req = ControlRequest::Wait {
            instance,
            timeout_ms: timeout.as_millis() as u64,
        };
        match self.call(node, req)? {
            ControlResponse::Report(r) => Ok(*r),
            ControlResponse::Error { message } => bail!("node {node}: {message}"),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// Marks the cluster's configured traitors in a report and recomputes IC1
    /// and IC2 from the decisions (a commander only knows whether it is
    /// faulty itself).
    pub fn annotate(&self, r: &mut InstanceReport) {
        for g in &mut r.generals {
            if self.is_faulty(g.id) {
                g.traitor = true;
                g.decision = None;
            }
        }
        for e in &mut r.evidence {
            e.holders.retain(|h| !self.is_faulty(*h));
        }
        r.traitors = self.opts.faults.keys().copied().collect();
        r.strategy = self
            .opts
            .faults
            .iter()
            .map(|(id, f)| (id.to_string(), f.strategy.to_string()))
            .collect();
        let loyal_commander = !self.is_faulty(r.commander);
        let (ic1, ic2) =
            InstanceReport::interactive_consistency(&r.generals, loyal_commander, r.order);
        r.ic1 = ic1;
        r.ic2 = ic2;
    }

    pub fn config(&self, id: NodeId) -> anyhow::Result<NodeConfig> {
        Ok(NodeConfig::load(&self.node(id)?.config)?)
    }

    /// The last lines of a node's log, for error messages.
    pub fn log_tail(&self, id: NodeId, lines: usize) -> String {
        let text = self
            .node(id)
            .ok()
            .and_then(|n| fs::read_to_string(&n.log).ok())
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if !self.opts.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
