//! The node's Prometheus metrics, and the small HTTP server that serves
//! them and `/healthz` on `[metrics] listen`.
//!
//! The driver, which owns the [`Node`](crate::protocol::Node), updates
//! [`Metrics`] as it carries out the node's outputs: each update is an
//! atomic add on a `prometheus-client` metric, so the protocol loop never
//! waits for a scrape, and a scrape reads the atomics from its own task.
//! Labels are closed sets (protocol, direction, decision, and the typed
//! kinds of `status`'s counters), never instance ids or addresses, so the
//! number of series is fixed by the code, not by traffic.
//!
//! The server answers one request per connection, reads at most
//! [`MAX_REQUEST`] bytes for at most [`IO_TIMEOUT`], and serves at most
//! [`MAX_CONNECTIONS`] at once (a connection beyond that is closed at
//! once): a stranger who can reach the port can cost the node little.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use generals_config::NodeConfig;
use generals_crypto::{NodeId, Order};
use generals_wire::handshake::HandshakeErrorKind;
use generals_wire::{PeerMessage, Protocol};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info};

use crate::control::LinkErrorKind;
use crate::protocol::RejectKind;

/// Connections served at once; more are closed unanswered.
pub const MAX_CONNECTIONS: usize = 4;
/// The most a request (line and headers) may take.
pub const MAX_REQUEST: usize = 4096;
/// How long a connection may take to send its request, and to take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrafficLabels {
    protocol: &'static str,
    /// `in` or `out`.
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Decision {
    protocol: &'static str,
    /// `attack` or `retreat`.
    value: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByProtocol {
    protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProofKind {
    /// `order`: the commander signed both values; `spec`: two specs for one id.
    kind: &'static str,
}

/// What the traffic metrics count of one message, taken before a link owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traffic {
    pub protocol: Protocol,
    /// OM values or SM chains; 0 for a decision report.
    pub logical: u64,
    /// On the wire, the 4-byte length prefix included, before sealing.
    pub bytes: u64,
}

impl Traffic {
    /// `msg` as sent: its encoded length.
    pub fn of(msg: &PeerMessage) -> Traffic {
        Traffic::read(msg, msg.wire_len())
    }

    /// `msg` as read from a link, `bytes` long.
    pub fn read(msg: &PeerMessage, bytes: usize) -> Traffic {
        let (protocol, logical) = match msg {
            PeerMessage::Round(f) => (f.spec().protocol, f.body.logical_messages()),
            PeerMessage::Report(r) => (r.spec.protocol, 0),
        };
        Traffic {
            protocol,
            logical,
            bytes: bytes as u64,
        }
    }
}

/// What a commander was caught signing twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Equivocation {
    /// Both ATTACK and RETREAT (an `EquivocationProof`).
    Order,
    /// Two specs for one instance id (a `SpecEquivocationProof`).
    Spec,
}

impl Equivocation {
    fn as_str(self) -> &'static str {
        match self {
            Equivocation::Order => "order",
            Equivocation::Spec => "spec",
        }
    }
}

const PROTOCOLS: [Protocol; 2] = [Protocol::Oral, Protocol::Signed];
const DIRECTIONS: [&str; 2] = ["in", "out"];

fn decision(o: Order) -> &'static str {
    match o {
        Order::Attack => "attack",
        Order::Retreat => "retreat",
    }
}

/// Makes the series `labels` of `family` exist, at 0.
fn create<S, M, C>(family: &Family<S, M, C>, labels: &S)
where
    S: Clone + std::hash::Hash + Eq,
    C: MetricConstructor<M>,
{
    drop(family.get_or_create(labels));
}

type Durations = Family<ByProtocol, Histogram, fn() -> Histogram>;

/// 1 ms to 33 s in 16 doubling buckets: a quiet round is a round trip, a
/// round that waits for a silent peer is Δ (1 s by default) or more.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric of one node, and what `/healthz` answers from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    messages: Family<TrafficLabels, Counter>,
    frames: Family<TrafficLabels, Counter>,
    bytes: Family<TrafficLabels, Counter>,
    signatures_made: Family<ByProtocol, Counter>,
    signatures_verified: Family<ByProtocol, Counter>,
    signatures_rejected: Family<Reason, Counter>,
    rejections: Family<Reason, Counter>,
    equivocations: Family<ProofKind, Counter>,
    decisions: Family<Decision, Counter>,
    handshakes_refused: Family<Reason, Counter>,
    link_errors: Family<Reason, Counter>,
    links_established: Counter,
    links_up: Gauge,
    instances_active: Gauge,
    round_duration: Durations,
    instance_duration: Durations,
    /// Per general: whether its link is up (this node's own entry stays false).
    up: Vec<AtomicBool>,
    me: NodeId,
    ready: AtomicBool,
    draining: AtomicBool,
}

impl Metrics {
    /// The metrics of node `me` of `n`, every labelled series at 0.
    pub fn new(me: NodeId, n: usize) -> Metrics {
        let mut r = Registry::with_prefix("generals");
        let messages = Family::<TrafficLabels, Counter>::default();
        let frames = Family::<TrafficLabels, Counter>::default();
        let bytes = Family::<TrafficLabels, Counter>::default();
        let signatures_made = Family::<ByProtocol, Counter>::default();
        let signatures_verified = Family::<ByProtocol, Counter>::default();
        let signatures_rejected = Family::<Reason, Counter>::default();
        let rejections = Family::<Reason, Counter>::default();
        let equivocations = Family::<ProofKind, Counter>::default();
        let decisions = Family::<Decision, Counter>::default();
        let handshakes_refused = Family::<Reason, Counter>::default();
        let link_errors = Family::<Reason, Counter>::default();
        let links_established = Counter::default();
        let links_up = Gauge::default();
        let peers: Gauge = Gauge::default();
        let instances_active = Gauge::default();
        let round_duration: Durations = Family::new_with_constructor(duration_histogram);
        let instance_duration: Durations = Family::new_with_constructor(duration_histogram);
        r.register(
            "messages",
            "Logical messages (OM values, SM chains) in round frames, by protocol and direction",
            messages.clone(),
        );
        r.register(
            "frames",
            "Frames (round frames and decision reports) handed to or read from peer links, by protocol and direction",
            frames.clone(),
        );
        r.register(
            "bytes",
            "Bytes of those frames, 4-byte length prefix included, before sealing",
            bytes.clone(),
        );
        r.register(
            "signatures_made",
            "Chain signatures this node made, counted when each instance decides",
            signatures_made.clone(),
        );
        r.register(
            "signatures_verified",
            "Chain signatures this node verified, counted when each instance decides",
            signatures_verified.clone(),
        );
        r.register(
            "signatures_rejected",
            "Signed chains, tickets and reports refused, by reason",
            signatures_rejected.clone(),
        );
        r.register(
            "rejections",
            "Frames, chains and reports refused, by reason (status's rejections)",
            rejections.clone(),
        );
        r.register(
            "equivocation_proofs",
            "Proofs that a commander signed twice (order: both values; spec: two specs for one id)",
            equivocations.clone(),
        );
        r.register(
            "decisions",
            "Instances decided here (the commander's own order included), by protocol and value",
            decisions.clone(),
        );
        r.register(
            "handshakes_refused",
            "Link handshakes refused at either end, by reason",
            handshakes_refused.clone(),
        );
        r.register(
            "link_errors",
            "Links closed or refused and frames not sent, by reason (status's link_errors)",
            link_errors.clone(),
        );
        r.register(
            "links_established",
            "Authenticated links that came up (each redial counts)",
            links_established.clone(),
        );
        r.register("links_up", "Peer links up now", links_up.clone());
        r.register(
            "peers",
            "Peers this node keeps a link to (n - 1)",
            peers.clone(),
        );
        r.register(
            "instances_active",
            "Instances in memory and not yet decided here",
            instances_active.clone(),
        );
        r.register(
            "round_duration_seconds",
            "Time from entering a round to closing it, at a lieutenant, by protocol",
            round_duration.clone(),
        );
        r.register(
            "instance_duration_seconds",
            "Time from joining an instance to deciding it, at a lieutenant, by protocol",
            instance_duration.clone(),
        );
        peers.set(i64::try_from(n.saturating_sub(1)).unwrap_or(i64::MAX));
        // Every series exists from the start, so rate() and alerts see the
        // first event, and a scrape lists every reason there is.
        for p in PROTOCOLS {
            let protocol = p.as_str();
            for direction in DIRECTIONS {
                let t = TrafficLabels {
                    protocol,
                    direction,
                };
                create(&messages, &t);
                create(&frames, &t);
                create(&bytes, &t);
            }
            for o in [Order::Attack, Order::Retreat] {
                create(
                    &decisions,
                    &Decision {
                        protocol,
                        value: decision(o),
                    },
                );
            }
            let by = ByProtocol { protocol };
            create(&signatures_made, &by);
            create(&signatures_verified, &by);
            create(&round_duration, &by);
            create(&instance_duration, &by);
        }
        for k in RejectKind::ALL {
            let reason = Reason { reason: k.as_str() };
            create(&rejections, &reason);
            if k.is_signature() {
                create(&signatures_rejected, &reason);
            }
        }
        for k in HandshakeErrorKind::ALL {
            create(&handshakes_refused, &Reason { reason: k.as_str() });
        }
        for k in LinkErrorKind::ALL {
            create(&link_errors, &Reason { reason: k.as_str() });
        }
        for e in [Equivocation::Order, Equivocation::Spec] {
            create(&equivocations, &ProofKind { kind: e.as_str() });
        }
        Metrics {
            registry: r,
            messages,
            frames,
            bytes,
            signatures_made,
            signatures_verified,
            signatures_rejected,
            rejections,
            equivocations,
            decisions,
            handshakes_refused,
            link_errors,
            links_established,
            links_up,
            instances_active,
            round_duration,
            instance_duration,
            up: (0..n).map(|_| AtomicBool::new(false)).collect(),
            me,
            ready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        }
    }

    fn traffic(&self, t: Traffic, direction: &'static str) {
        let labels = TrafficLabels {
            protocol: t.protocol.as_str(),
            direction,
        };
        self.messages.get_or_create(&labels).inc_by(t.logical);
        self.frames.get_or_create(&labels).inc();
        self.bytes.get_or_create(&labels).inc_by(t.bytes);
    }

    /// A message handed to a peer's link.
    pub fn sent(&self, t: Traffic) {
        self.traffic(t, "out");
    }

    /// A message read from a peer's link.
    pub fn received(&self, t: Traffic) {
        self.traffic(t, "in");
    }

    pub fn rejected(&self, kind: RejectKind) {
        let reason = Reason {
            reason: kind.as_str(),
        };
        self.rejections.get_or_create(&reason).inc();
        if kind.is_signature() {
            self.signatures_rejected.get_or_create(&reason).inc();
        }
    }

    /// An instance decided here: its decision, the signatures it made and
    /// verified, and (at a lieutenant) how long its rounds took.
    pub fn decided(
        &self,
        protocol: Protocol,
        value: Order,
        signatures: (u64, u64),
        rounds: &[Duration],
    ) {
        let p = protocol.as_str();
        self.decisions
            .get_or_create(&Decision {
                protocol: p,
                value: decision(value),
            })
            .inc();
        let by = ByProtocol { protocol: p };
        self.signatures_made.get_or_create(&by).inc_by(signatures.0);
        self.signatures_verified
            .get_or_create(&by)
            .inc_by(signatures.1);
        if rounds.is_empty() {
            return;
        }
        let round = self.round_duration.get_or_create(&by);
        for r in rounds {
            round.observe(r.as_secs_f64());
        }
        let total: Duration = rounds.iter().sum();
        self.instance_duration
            .get_or_create(&by)
            .observe(total.as_secs_f64());
    }

    pub fn equivocation(&self, what: Equivocation) {
        self.equivocations
            .get_or_create(&ProofKind {
                kind: what.as_str(),
            })
            .inc();
    }

    pub fn handshake_refused(&self, kind: HandshakeErrorKind) {
        self.handshakes_refused
            .get_or_create(&Reason {
                reason: kind.as_str(),
            })
            .inc();
    }

    pub fn link_error(&self, kind: LinkErrorKind) {
        self.link_errors
            .get_or_create(&Reason {
                reason: kind.as_str(),
            })
            .inc();
    }

    /// Peer `peer`'s link came up (`true`) or went down.
    pub fn link(&self, peer: NodeId, up: bool) {
        if up {
            self.links_established.inc();
        }
        if let Some(flag) = self.up.get(peer.index()) {
            flag.store(up, Ordering::Relaxed);
        }
        let count = self.up.iter().filter(|f| f.load(Ordering::Relaxed)).count();
        self.links_up.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn instances_active(&self, active: usize) {
        self.instances_active
            .set(i64::try_from(active).unwrap_or(i64::MAX));
    }

    /// The node takes orders and frames: `/healthz` may answer 200.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// The node is stopping: `/healthz` answers 503 from now on.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// `/healthz`: `Ok` when the node is ready, not draining, and every
    /// peer's link is up; otherwise why not.
    pub fn health(&self) -> Result<(), String> {
        if !self.ready.load(Ordering::Relaxed) {
            return Err("starting: the node is not ready yet".into());
        }
        if self.draining.load(Ordering::Relaxed) {
            return Err("draining: the node is stopping".into());
        }
        let down: Vec<String> = self
            .up
            .iter()
            .enumerate()
            .filter(|(i, f)| *i != self.me.index() && !f.load(Ordering::Relaxed))
            .map(|(i, _)| i.to_string())
            .collect();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "links down to {} of {} peers: {}",
                down.len(),
                self.up.len().saturating_sub(1),
                down.join(", ")
            ))
        }
    }

    /// The scrape: OpenMetrics text, or the Prometheus text format 0.0.4.
    pub fn encode(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        }
        Ok(out)
    }
}

/// Binds `[metrics] listen`, if the config has it.
pub async fn bind(cfg: &NodeConfig) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = cfg.metrics_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        let msg = format!(
            "cannot listen for metrics on {addr} ({}change [metrics] listen in {}){}",
            super::bind_hint(addr, &e),
            cfg.file.display(),
            super::set_by(cfg, "metrics.listen")
        );
        anyhow::Error::new(e).context(msg)
    })?;
    info!(%addr, "serving metrics on /metrics and health on /healthz");
    Ok(Some(listener))
}

/// Answers scrapes until the task is aborted.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = super::accept::AcceptBackoff::new("metrics");
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                backoff.failed(&e).await;
                continue;
            }
        };
        backoff.succeeded();
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(%peer, "metrics: too many connections; closing this one");
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &metrics).await {
                debug!(%peer, error = %e, "metrics: connection ended");
            }
            drop(slot);
        });
    }
}

/// Reads one request and writes its answer.
async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let head = tokio::time::timeout(IO_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request too slow"))??;
    let response = match head {
        Some(head) => respond(&head, metrics),
        None => reply(
            431,
            "Request Header Fields Too Large",
            "text/plain",
            "request too large\n",
        ),
    };
    tokio::time::timeout(IO_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "reader too slow"))?
}

/// The request line and headers, or `None` past [`MAX_REQUEST`] bytes.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    loop {
        if let Some(end) = find_end(&buf[..len]) {
            return Ok(Some(String::from_utf8_lossy(&buf[..end]).into_owned()));
        }
        if len == buf.len() {
            return Ok(None);
        }
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        len += n;
    }
}

fn find_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// The answer to one request head.
pub fn respond(head: &str, metrics: &Metrics) -> String {
    let mut lines = head.lines();
    let mut parts = lines.next().unwrap_or_default().split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("/"),
    );
    let path = target.split('?').next().unwrap_or_default();
    if !matches!(path, "/metrics" | "/healthz") {
        return reply(404, "Not Found", "text/plain", "try /metrics or /healthz\n");
    }
    if method != "GET" {
        return reply(405, "Method Not Allowed", "text/plain", "only GET\n");
    }
    if path == "/healthz" {
        return match metrics.health() {
            Ok(()) => reply(200, "OK", "text/plain", "ok\n"),
            Err(why) => reply(
                503,
                "Service Unavailable",
                "text/plain",
                &format!("{why}\n"),
            ),
        };
    }
    let openmetrics = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("accept") && v.contains("application/openmetrics-text")
        })
    });
    match metrics.encode(openmetrics) {
        Ok(body) => reply(
            200,
            "OK",
            if openmetrics {
                OPENMETRICS
            } else {
                PROMETHEUS_TEXT
            },
            &body,
        ),
        Err(_) => reply(
            500,
            "Internal Server Error",
            "text/plain",
            "encoding failed\n",
        ),
    }
}

fn reply(code: u16, status: &str, content_type: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 128);
    let _ = write!(
        out,
        "HTTP/1.1 {code} {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(answer: &str) -> &str {
        answer.split(' ').nth(1).unwrap()
    }

    /// /healthz is 200 only while ready, not draining and with every peer
    /// link up; each 503 says why.
    #[test]
    fn healthz_follows_readiness_links_and_draining() {
        let m = Metrics::new(NodeId(1), 3);
        let get = |m: &Metrics| respond("GET /healthz HTTP/1.1\r\nHost: x", m);
        assert!(get(&m).ends_with("starting: the node is not ready yet\n"));
        m.set_ready();
        let down = get(&m);
        assert_eq!(code(&down), "503");
        assert!(
            down.ends_with("links down to 2 of 2 peers: 0, 2\n"),
            "{down}"
        );
        m.link(NodeId(0), true);
        m.link(NodeId(2), true);
        assert_eq!(code(&get(&m)), "200");
        m.link(NodeId(2), false);
        assert!(get(&m).ends_with("peers: 2\n"));
        m.link(NodeId(2), true);
        m.set_draining();
        assert!(get(&m).ends_with("draining: the node is stopping\n"));
    }

    #[test]
    fn only_get_on_the_two_paths() {
        let m = Metrics::new(NodeId(0), 2);
        assert_eq!(code(&respond("GET /other HTTP/1.1", &m)), "404");
        assert_eq!(code(&respond("POST /metrics HTTP/1.1", &m)), "405");
        assert_eq!(code(&respond("", &m)), "404");
        let text = respond("GET /metrics?x=1 HTTP/1.1\r\nHost: x", &m);
        assert!(text.contains("version=0.0.4"), "{text}");
        let om = respond(
            "GET /metrics HTTP/1.1\r\naccept: application/openmetrics-text",
            &m,
        );
        assert!(om.contains("application/openmetrics-text") && om.ends_with("# EOF\n"));
    }

    /// The typed calls land on the series their kinds name.
    #[test]
    fn counts_land_on_their_labels() {
        let m = Metrics::new(NodeId(0), 4);
        m.rejected(RejectKind::BadSignature);
        m.rejected(RejectKind::PastRound);
        m.decided(
            Protocol::Signed,
            Order::Retreat,
            (2, 5),
            &[Duration::from_millis(3)],
        );
        m.link(NodeId(1), true);
        let text = m.encode(false).unwrap();
        for line in [
            "generals_rejections_total{reason=\"bad_signature\"} 1",
            "generals_rejections_total{reason=\"past_round\"} 1",
            "generals_signatures_rejected_total{reason=\"bad_signature\"} 1",
            "generals_decisions_total{protocol=\"signed\",value=\"retreat\"} 1",
            "generals_signatures_made_total{protocol=\"signed\"} 2",
            "generals_signatures_verified_total{protocol=\"signed\"} 5",
            "generals_round_duration_seconds_count{protocol=\"signed\"} 1",
            "generals_links_up 1",
            "generals_peers 3",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // past_round is not a signature.
        assert!(!text.contains("generals_signatures_rejected_total{reason=\"past_round\"}"));
    }
}
