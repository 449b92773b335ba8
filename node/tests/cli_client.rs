//! The operator commands that talk to a daemon (order, status, evidence) or to
//! no one (keygen, testnet, evidence verify), run as the real binary. The
//! daemon is a fake here: a Unix listener at the node's control socket that
//! answers with canned responses and records what it was asked.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use generals_config::{generate_testnet, NodeConfig, TestnetNode, TestnetOptions};
use generals_crypto::{
    EquivocationProof, InstanceId, NodeId, NodeKey, Order, PublicKey, SignedOrder,
};
use generals_node::control::{
    socket_path, ControlRequest, ControlResponse, EvidenceSummary, InstanceStatus, LinkState,
    NodeCounters, NodeStatus, PeerStatus, ServerCodec,
};
use generals_node::report::{InstanceReport, Role};
use generals_node::sim::{run as run_sim, SimConfig};
use generals_wire::{MessageCounters, Protocol};
use tokio_util::codec::{Decoder, Encoder};

/// Chains here are signed for this cluster; nothing depends on which.
const CL: generals_crypto::ClusterId = generals_crypto::ClusterId([7; 32]);

/// Runs `generals ARGS` without any GENERALS_* overrides from this environment.
/// Fails with the whole stderr unless it contains `text`.
fn assert_stderr_has(out: &Output, text: &str) {
    let err = stderr(out);
    assert!(err.contains(text), "stderr lacks {text:?}:\n{err}");
}

fn generals(args: &[&str]) -> Output {
    generals_with(args, &[])
}

/// [`generals`] with these variables set.
fn generals_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_generals"));
    cmd.args(args);
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("GENERALS_") {
            cmd.env_remove(var);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A testnet written through the library (the CLI's own test is below).
fn testnet(dir: &Path, n: usize) -> Vec<TestnetNode> {
    generate_testnet(&TestnetOptions::new(n, dir.join("net"))).unwrap()
}

fn data_dir(config: &Path) -> PathBuf {
    NodeConfig::load_with_env(config, Vec::new())
        .unwrap()
        .data_dir()
        .to_owned()
}

/// Binds the control socket of the node configured at `config`.
fn bind_control(config: &Path) -> UnixListener {
    let data = data_dir(config);
    std::fs::create_dir_all(&data).unwrap();
    UnixListener::bind(socket_path(&data)).unwrap()
}

/// Answers one connection per canned response, in order, and returns the
/// requests received. Gives up after 20 s without a connection.
fn fake_daemon(
    listener: UnixListener,
    answers: Vec<ControlResponse>,
) -> JoinHandle<Vec<ControlRequest>> {
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return seen,
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut codec = ServerCodec::default();
            let mut buf = BytesMut::new();
            let req = loop {
                if let Some(req) = codec.decode(&mut buf).unwrap() {
                    break req;
                }
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).unwrap();
                assert!(
                    n > 0,
                    "the CLI closed the connection before sending a request"
                );
                buf.extend_from_slice(&chunk[..n]);
            };
            seen.push(req);
            let mut out = BytesMut::new();
            codec.encode(&answer, &mut out).unwrap();
            stream.write_all(&out).unwrap();
        }
        seen
    })
}

const INSTANCE: InstanceId = InstanceId {
    commander: NodeId(0),
    seq: 17,
};

/// A real report (from the simulator) dressed up as the daemon's.
fn canned_report(ic1: bool) -> InstanceReport {
    let mut r = run_sim(&SimConfig::new(Protocol::Signed, 4, 1)).unwrap();
    r.instance = Some(INSTANCE.to_string());
    r.complete = Some(true);
    r.seed = None;
    r.virtual_ms = None;
    for g in &mut r.generals {
        g.reported = Some(true);
    }
    r.ic1 = ic1;
    r
}

fn canned_status() -> NodeStatus {
    let mut counters = NodeCounters {
        instances_started: 1,
        decisions: 1,
        frames_in: 12,
        frames_out: 9,
        ..NodeCounters::default()
    };
    counters
        .rejections
        .insert(generals_node::protocol::RejectKind::BadSignature, 2);
    NodeStatus {
        id: NodeId(0),
        n: 4,
        listen: "127.0.0.1:7000".into(),
        uptime_ms: 3_723_000,
        fault: None,
        peers: (0..4u16)
            .map(|i| PeerStatus {
                id: NodeId(i),
                addr: format!("127.0.0.1:{}", 7000 + i),
                state: if i == 0 {
                    LinkState::Local
                } else if i == 3 {
                    LinkState::Connecting
                } else {
                    LinkState::Up
                },
                since_ms: 1500,
                connects: 1,
                frames_in: 4,
                frames_out: 3,
                bytes_in: 400,
                bytes_out: 300,
                dropped: 0,
                last_error: (i == 3).then(|| "connection refused".to_owned()),
            })
            .collect(),
        instances: vec![InstanceStatus {
            instance: INSTANCE,
            protocol: Protocol::Signed,
            m: 1,
            role: Role::Commander,
            round: 3,
            decision: Some(Order::Attack),
            evidence: false,
            reports: 3,
            counters: MessageCounters::default(),
            times: Default::default(),
        }],
        counters,
    }
}

fn equivocation(key: &NodeKey, commander: NodeId) -> EquivocationProof {
    let instance = InstanceId { commander, seq: 3 };
    let a = SignedOrder::new(key, &CL, instance, 1, Order::Attack);
    let r = SignedOrder::new(key, &CL, instance, 1, Order::Retreat);
    EquivocationProof::from_chains(&CL, &a, &r).unwrap()
}

#[test]
fn keygen_writes_a_private_key_and_prints_its_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.key");
    let out = generals(&["keygen", "--out", s(&file)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = stdout(&out);
    assert!(text.contains("(mode 0600)"), "{text}");
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap();
    let printed: PublicKey = hex.parse().unwrap();
    assert_eq!(printed, NodeKey::load(&file).unwrap().public());

    let again = generals(&["keygen", "--out", s(&file)]);
    assert_eq!(code(&again), 1);
    assert_stderr_has(&again, "refusing to overwrite");
    // The first key is still there.
    assert_eq!(NodeKey::load(&file).unwrap().public(), printed);

    // --show reads an existing key and prints the same public key.
    let shown = generals(&["keygen", "--show", s(&file)]);
    assert_eq!(code(&shown), 0, "{}", stderr(&shown));
    assert!(
        stdout(&shown).contains(&format!("public key: {printed}")),
        "{}",
        stdout(&shown)
    );
    // Neither flag is a usage error.
    assert_eq!(code(&generals(&["keygen"])), 2);

    let json_file = dir.path().join("other.key");
    let out = generals(&["keygen", "--out", s(&json_file), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["file"], s(&json_file));
    let pk: PublicKey = v["pubkey"].as_str().unwrap().parse().unwrap();
    assert_eq!(pk, NodeKey::load(&json_file).unwrap().public());
}

#[test]
fn testnet_writes_loadable_configs_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("tn");
    let out = generals(&[
        "testnet",
        "--nodes",
        "4",
        "--out",
        s(&out_dir),
        "--base-port",
        "17000",
        "--round-timeout-ms",
        "250",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("generals node --config"), "{text}");
    assert!(text.contains("127.0.0.1:17003"), "{text}");
    let mut keys = Vec::new();
    for i in 0..4u16 {
        let config = out_dir.join(format!("node{i}")).join("config.toml");
        assert!(text.contains(s(&config)), "{text}");
        let cfg = NodeConfig::load_with_env(&config, Vec::new()).unwrap();
        assert_eq!(cfg.id, NodeId(i));
        assert_eq!(cfg.n(), 4);
        assert_eq!(cfg.round_timeout_ms, 250);
        assert_eq!(cfg.listen.port(), 17000 + i);
        let key = NodeKey::load(cfg.key_path()).unwrap().public();
        assert_eq!(cfg.peers[usize::from(i)].pubkey, key);
        assert!(text.contains(&key.to_string()), "{text}");
        keys.push(key);
    }

    let again = generals(&["testnet", "--nodes", "4", "--out", s(&out_dir)]);
    assert_eq!(code(&again), 1);
    let err = stderr(&again);
    assert!(err.contains(s(&out_dir.join("node0"))), "{err}");
    assert!(err.contains("refusing to overwrite"), "{err}");

    let json_dir = dir.path().join("tj");
    let out = generals(&["testnet", "-n", "3", "--out", s(&json_dir), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[2]["addr"], "127.0.0.1:7002");
    let config = PathBuf::from(nodes[1]["config"].as_str().unwrap());
    NodeConfig::load_with_env(&config, Vec::new()).unwrap();
}

#[test]
fn oral_below_the_bound_is_refused_before_contacting_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 4);
    let config = &nodes[0].config_path;
    let listener = bind_control(config);
    let out = generals(&[
        "order",
        "--config",
        s(config),
        "--protocol",
        "oral",
        "--m",
        "2",
        "--value",
        "attack",
    ]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("3m+1"), "{err}");
    assert!(err.contains("= 7"), "{err}");
    assert!(err.contains("has 4"), "{err}");
    assert!(err.contains("--protocol signed"), "{err}");
    // Nobody knocked.
    listener.set_nonblocking(true).unwrap();
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);

    let out = generals(&[
        "order",
        "--config",
        s(config),
        "--protocol",
        "signed",
        "--m",
        "3",
        "--value",
        "attack",
        "--force",
    ]);
    assert_eq!(code(&out), 1);
    assert_stderr_has(&out, "m+2 = 5");
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn a_missing_daemon_is_named_with_its_socket_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 4);
    let config = &nodes[0].config_path;
    let sock = socket_path(&data_dir(config));
    for args in [
        vec![
            "order",
            "--protocol",
            "signed",
            "--m",
            "1",
            "--value",
            "attack",
        ],
        vec!["status"],
        vec!["evidence", "list"],
    ] {
        let mut args = args;
        args.extend(["--config", s(config)]);
        let out = generals(&args);
        assert_eq!(code(&out), 1, "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("no daemon is running"), "{err}");
        assert!(err.contains(s(&sock)), "{err}");
        assert!(err.contains("generals node --config"), "{err}");
    }

    // A socket file nobody listens on: stale.
    drop(bind_control(config));
    let out = generals(&["status", "--config", s(config)]);
    assert_eq!(code(&out), 1);
    assert_stderr_has(&out, "stale");
}

#[test]
fn evidence_verify_works_offline() {
    let dir = tempfile::tempdir().unwrap();
    let commander = NodeKey::generate();
    let proof = equivocation(&commander, NodeId(2));
    let file = dir.path().join("2-3.json");
    std::fs::write(&file, serde_json::to_string_pretty(&proof).unwrap()).unwrap();
    let pubkey = commander.public().to_string();

    let out = generals(&["evidence", "verify", s(&file), "--pubkey", &pubkey]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "VALID: commander 2 signed both RETREAT and ATTACK for instance 2-3"
    );

    // @FILE reads the key from the first line.
    let keyfile = dir.path().join("commander.pub");
    std::fs::write(&keyfile, format!("{pubkey}\nsecond line\n")).unwrap();
    let at = format!("@{}", s(&keyfile));
    let out = generals(&["evidence", "verify", s(&file), "--pubkey", &at, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["instance"], "2-3");

    // Someone else's key.
    let stranger = NodeKey::generate().public().to_string();
    let out = generals(&["evidence", "verify", s(&file), "--pubkey", &stranger]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.starts_with("INVALID"), "{text}");
    assert!(text.contains("not signed by the commander"), "{text}");

    // A tampered signature.
    let mut v: serde_json::Value = serde_json::to_value(&proof).unwrap();
    let sig = v["attack"]["links"][0]["sig"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    v["attack"]["links"][0]["sig"] = format!("{flipped}{}", &sig[1..]).into();
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, v.to_string()).unwrap();
    let out = generals(&["evidence", "verify", s(&tampered), "--pubkey", &pubkey]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("attack order is not signed"),
        "{}",
        stdout(&out)
    );

    // A tampered order: both roots now say RETREAT.
    let mut v: serde_json::Value = serde_json::to_value(&proof).unwrap();
    v["attack"]["order"] = "retreat".into();
    std::fs::write(&tampered, v.to_string()).unwrap();
    let out = generals(&["evidence", "verify", s(&tampered), "--pubkey", &pubkey]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("not equivocation"),
        "{}",
        stdout(&out)
    );

    // Not a proof at all, and not a key at all.
    std::fs::write(&tampered, "{\"hello\":1}").unwrap();
    let out = generals(&["evidence", "verify", s(&tampered), "--pubkey", &pubkey]);
    assert_eq!(code(&out), 1);
    assert_stderr_has(&out, "not an equivocation proof");
    let out = generals(&["evidence", "verify", s(&file), "--pubkey", "xyz"]);
    assert_eq!(code(&out), 1);
    assert_stderr_has(&out, "64 hexadecimal digits");
}

#[test]
fn order_wait_json_prints_the_report_contract() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 4);
    let config = &nodes[0].config_path;
    let report = canned_report(true);
    let daemon = fake_daemon(
        bind_control(config),
        vec![
            ControlResponse::Ordered {
                instance: INSTANCE,
                deadlines_ms: Vec::new(),
            },
            ControlResponse::Report(Box::new(report.clone())),
        ],
    );
    let out = generals(&[
        "order",
        "--config",
        s(config),
        "--protocol",
        "signed",
        "--m",
        "1",
        "--value",
        "attack",
        "--wait",
        "--timeout-ms",
        "5000",
        "--json",
    ]);
    let seen = daemon.join().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        seen,
        vec![
            ControlRequest::Order {
                protocol: Protocol::Signed,
                m: 1,
                value: Order::Attack,
                force: false,
            },
            ControlRequest::Wait {
                instance: INSTANCE,
                timeout_ms: 5000,
            },
        ]
    );
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "exactly one JSON object: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in [
        "protocol",
        "n",
        "m",
        "commander",
        "order",
        "traitors",
        "generals",
        "ic1",
        "ic2",
        "rounds",
        "messages",
        "evidence",
    ] {
        assert!(v.get(key).is_some(), "missing {key:?} in {text}");
    }
    for key in [
        "logical",
        "formula",
        "frames",
        "bytes",
        "signatures_made",
        "signatures_verified",
    ] {
        assert!(
            v["messages"].get(key).is_some(),
            "missing messages.{key} in {text}"
        );
    }
    assert_eq!(v["protocol"], "signed");
    assert_eq!(v["complete"], true);
    let back: InstanceReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, report);
}

#[test]
fn order_exit_codes_follow_the_report_and_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 4);
    let config = &nodes[0].config_path;
    let order = |extra: &[&str]| {
        let mut args = vec![
            "order",
            "--config",
            s(config),
            "--protocol",
            "oral",
            "--m",
            "1",
            "--value",
            "retreat",
        ];
        args.extend_from_slice(extra);
        generals(&args)
    };

    // IC1 broken: exit 3, human report says so.
    let mut broken = canned_report(false);
    broken.complete = Some(false);
    broken.generals[3].reported = Some(false);
    let daemon = fake_daemon(
        bind_control(config),
        vec![
            ControlResponse::Ordered {
                instance: INSTANCE,
                deadlines_ms: Vec::new(),
            },
            ControlResponse::Report(Box::new(broken)),
        ],
    );
    let out = order(&["--wait"]);
    let seen = daemon.join().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("instance 0-17"), "{text}");
    assert!(
        text.contains("IC1 (loyal lieutenants agree):  VIOLATED"),
        "{text}"
    );
    assert!(
        text.contains("INCOMPLETE: no signed report from 3"),
        "{text}"
    );

    // No --wait: just the id; with --json an object.
    std::fs::remove_file(socket_path(&data_dir(config))).unwrap();
    let daemon = fake_daemon(
        bind_control(config),
        vec![
            ControlResponse::Ordered {
                instance: INSTANCE,
                deadlines_ms: Vec::new(),
            },
            ControlResponse::Ordered {
                instance: InstanceId {
                    seq: 18,
                    ..INSTANCE
                },
                deadlines_ms: Vec::new(),
            },
        ],
    );
    let plain = order(&[]);
    let json = order(&["--json", "--force"]);
    let seen = daemon.join().unwrap();
    assert_eq!(code(&plain), 0, "{}", stderr(&plain));
    assert_eq!(stdout(&plain), "0-17\n");
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    assert_eq!(stdout(&json).trim(), r#"{"instance":"0-18"}"#);
    assert!(matches!(
        seen[1],
        ControlRequest::Order {
            protocol: Protocol::Oral,
            m: 1,
            value: Order::Retreat,
            force: true
        }
    ));

    // The daemon refuses: its message is the error.
    std::fs::remove_file(socket_path(&data_dir(config))).unwrap();
    let daemon = fake_daemon(
        bind_control(config),
        vec![ControlResponse::Error {
            message: "256 instances are running; wait for some to finish".into(),
        }],
    );
    let out = order(&["--wait"]);
    daemon.join().unwrap();
    assert_eq!(code(&out), 1);
    assert_stderr_has(&out, "256 instances are running");
}

#[test]
fn status_json_round_trips_and_the_table_shows_links() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 4);
    let config = &nodes[0].config_path;
    let status = canned_status();
    let daemon = fake_daemon(
        bind_control(config),
        vec![
            ControlResponse::Status(Box::new(status.clone())),
            ControlResponse::Status(Box::new(status.clone())),
        ],
    );
    let json = generals(&["status", "--config", s(config), "--json"]);
    let human = generals(&["status", "--config", s(config), "--instance", "0-17"]);
    let seen = daemon.join().unwrap();
    assert_eq!(
        seen,
        vec![
            ControlRequest::Status { instance: None },
            ControlRequest::Status {
                instance: Some(INSTANCE)
            },
        ]
    );
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    let back: NodeStatus = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(back, status);

    assert_eq!(code(&human), 0, "{}", stderr(&human));
    let text = stdout(&human);
    for want in [
        "node 0 of 4, listening on 127.0.0.1:7000, up 1h02m03s",
        "127.0.0.1:7003",
        "connecting",
        "connection refused",
        "0-17",
        "commander",
        "3/3",
        "bad_signature x2",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }

    let bad = generals(&["status", "--config", s(config), "--instance", "17"]);
    assert_eq!(code(&bad), 2);
    assert_stderr_has(&bad, "COMMANDER-SEQ");
}

#[test]
fn evidence_list_and_show_ask_the_daemon_and_check_with_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 4);
    let config = &nodes[1].config_path;
    let commander = NodeKey::load(&nodes[0].key_path).unwrap();
    let proof = equivocation(&commander, NodeId(0));
    let file = dir.path().join("0-3.json");
    let instance = proof.instance();
    let daemon = fake_daemon(
        bind_control(config),
        vec![
            ControlResponse::EvidenceList {
                proofs: vec![EvidenceSummary {
                    instance,
                    commander: NodeId(0),
                    file: file.clone(),
                }],
            },
            ControlResponse::Evidence {
                file: file.clone(),
                proof: proof.clone(),
            },
            ControlResponse::Evidence {
                file: file.clone(),
                proof: proof.clone(),
            },
        ],
    );
    let list = generals(&["evidence", "list", "--config", s(config), "--json"]);
    let show = generals(&["evidence", "show", "0-3", "--config", s(config)]);
    let show_json = generals(&["evidence", "show", "0-3", "--config", s(config), "--json"]);
    let seen = daemon.join().unwrap();
    assert_eq!(
        seen,
        vec![
            ControlRequest::EvidenceList,
            ControlRequest::EvidenceShow { instance },
            ControlRequest::EvidenceShow { instance },
        ]
    );
    assert_eq!(code(&list), 0, "{}", stderr(&list));
    let v: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(v["proofs"][0]["instance"]["seq"], 3);
    assert_eq!(v["proofs"][0]["file"], s(&file));

    assert_eq!(code(&show), 0, "{}", stderr(&show));
    let text = stdout(&show);
    assert!(text.contains("verified: yes"), "{text}");
    assert!(
        text.contains(&format!("--pubkey {}", commander.public())),
        "{text}"
    );

    // `show --json` output is itself accepted by `verify`.
    let v: serde_json::Value = serde_json::from_str(&stdout(&show_json)).unwrap();
    assert_eq!(v["verified"], true);
    let saved = dir.path().join("show.json");
    std::fs::write(&saved, stdout(&show_json)).unwrap();
    let out = generals(&[
        "evidence",
        "verify",
        s(&saved),
        "--pubkey",
        &commander.public().to_string(),
    ]);
    assert_eq!(code(&out), 0, "{} {}", stdout(&out), stderr(&out));
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        vec!["keygen"],
        vec!["testnet"],
        vec!["order"],
        vec!["status"],
        vec!["evidence"],
        vec!["evidence", "list"],
        vec!["evidence", "show"],
        vec!["evidence", "verify"],
        vec!["init"],
        vec!["show-node-id"],
        vec!["config", "check"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = generals(&args);
        assert_eq!(code(&out), 0, "{cmd:?}");
        let text = stdout(&out);
        assert!(text.contains("Example"), "{cmd:?}: {text}");
        assert!(
            text.contains(&format!("generals {}", cmd.join(" "))),
            "{cmd:?}: {text}"
        );
    }
}

/// `key_file = "."` (a directory, mode 0755) is named as a directory; the
/// operator is not told to chmod it. `keygen --out DIR` says the same.
#[test]
fn a_key_file_that_is_a_directory_is_named_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 4);
    let config = &nodes[0].config_path;
    let text = std::fs::read_to_string(config).unwrap();
    let text = text.replace("key_file = \"node.key\"", "key_file = \".\"");
    std::fs::write(config, text).unwrap();
    let node_dir = config.parent().unwrap();
    for out in [
        generals(&["node", "--config", s(config)]),
        generals(&["keygen", "--out", s(node_dir)]),
    ] {
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        assert_stderr_has(&out, "is a directory, not a key file");
        assert!(!stderr(&out).contains("chmod"), "{}", stderr(&out));
    }
}

/// A traitor strategy set by GENERALS_FAULT__STRATEGY is blamed on the
/// variable, not on a [fault] section the file does not have; a key_file
/// set by GENERALS_KEY_FILE is named as the variable's.
#[test]
fn node_refusals_name_the_environment_variable_that_caused_them() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 4);
    let config = s(&nodes[0].config_path);
    let node_with =
        |var: &str, value: &str| generals_with(&["node", "--config", config], &[(var, value)]);
    let out = node_with("GENERALS_FAULT__STRATEGY", "silent");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_stderr_has(
        &out,
        "error: environment variable GENERALS_FAULT__STRATEGY=silent gives this node a [fault] strategy",
    );
    assert_stderr_has(&out, "--allow-faults");
    assert!(!stderr(&out).contains("section"), "{}", stderr(&out));

    let out = node_with("GENERALS_KEY_FILE", "missing.key");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_stderr_has(&out, "missing.key does not exist");
    assert_stderr_has(
        &out,
        "(`key_file` comes from environment variable GENERALS_KEY_FILE)",
    );

    // An address this host does not have (TEST-NET-1) is named as such, not
    // blamed on another process using the port.
    let port = nodes[0].addr.port().to_string();
    let out = node_with("GENERALS_LISTEN", &format!("192.0.2.1:{port}"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_stderr_has(&out, "192.0.2.1 is not an address of this host");
    assert_stderr_has(&out, "or 0.0.0.0 for all of them");
    assert!(
        !stderr(&out).contains("another process"),
        "{}",
        stderr(&out)
    );
}

/// `generals testnet | head` closes stdout early: the CLI exits quietly, as
/// a tool killed by SIGPIPE does, instead of panicking with a backtrace.
#[test]
fn a_closed_stdout_ends_the_cli_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_generals"))
        .args(["keygen", "--out", s(&dir.path().join("k"))])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(code(&out), 141, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

/// What each traitor strategy does is said in `simulate --help` and in the
/// [fault] table of docs/OPERATIONS.md, in the code's words
/// (`FaultStrategy::description`): neither can drift from the other.
#[test]
fn every_traitor_strategy_is_described_in_the_help_and_the_docs() {
    let help = stdout(&generals(&["simulate", "--help"]));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ops = std::fs::read_to_string(root.join("docs/OPERATIONS.md")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for strategy in generals_config::FaultStrategy::ALL {
        let (name, what) = (strategy.as_str(), strategy.description());
        assert!(
            help.contains(&format!("- {name}:")),
            "{name} not in:\n{help}"
        );
        assert!(help.contains(what), "{name}: {what:?} not in:\n{help}");
        let row = format!("| `{name}` | {what} |");
        assert!(ops.contains(&row), "OPERATIONS.md lacks the row {row}");
        assert!(
            readme.contains(&format!("`{name}`")),
            "README.md does not name {name}"
        );
    }
}

/// Help examples for an installed node use the layout of
/// docs/OPERATIONS.md, one directory per node: /etc/generals/NODE/...
#[test]
fn help_examples_use_the_installed_layout_of_operations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ops = std::fs::read_to_string(root.join("docs/OPERATIONS.md")).unwrap();
    assert!(ops.contains("/etc/generals/node0/config.toml"));
    let mut seen = 0;
    for cmd in [
        "keygen",
        "order",
        "status",
        "node",
        "evidence",
        "testnet",
        "init",
        "show-node-id",
    ] {
        let help = stdout(&generals(&[cmd, "--help"]));
        for (at, _) in help.match_indices("/etc/generals/") {
            seen += 1;
            let rest = &help[at + "/etc/generals/".len()..];
            assert!(rest.starts_with("node0/"), "{cmd} --help: {help}");
        }
    }
    assert!(seen >= 3, "the help examples show an installed node");
}

/// `--version` names the commit (from git at build time) and the wire
/// version, which decides whether two releases interoperate.
#[test]
fn version_names_the_commit_and_the_wire_version() {
    let out = generals(&["--version"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let wire = format!("wire version {}", generals_wire::handshake::VERSION);
    assert!(text.contains(&wire), "{text}");
    assert!(
        text.starts_with(&format!("generals {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    // In a checkout, the commit is HEAD's (the build reruns when HEAD moves).
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let commit = head.unwrap_or_else(|| "unknown".to_owned());
    assert!(text.contains(&format!("(commit {commit}, ")), "{text}");
}

#[test]
fn simulate_json_keeps_the_contract_and_exit_codes() {
    let out = generals(&[
        "simulate",
        "--protocol",
        "oral",
        "--nodes",
        "7",
        "--m",
        "2",
        "--traitors",
        "0,5",
        "--strategy",
        "split",
        "--value",
        "attack",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["protocol"], "oral");
    assert_eq!(
        (v["n"].as_u64(), v["m"].as_u64(), v["commander"].as_u64()),
        (Some(7), Some(2), Some(0))
    );
    assert_eq!(v["order"], "attack");
    assert_eq!(v["traitors"], serde_json::json!([0, 5]));
    let gs = v["generals"].as_array().unwrap();
    assert_eq!(gs.len(), 7);
    assert_eq!(gs[0]["role"], "commander");
    assert_eq!(gs[0]["traitor"], true);
    assert!(gs[0]["decision"].is_null(), "a traitor's decision is null");
    assert_eq!(gs[1]["role"], "lieutenant");
    assert!(gs[1]["decision"] == "attack" || gs[1]["decision"] == "retreat");
    assert_eq!(
        (v["ic1"].as_bool(), v["ic2"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(v["rounds"], 3);
    let m = &v["messages"];
    for field in [
        "logical",
        "formula",
        "frames",
        "bytes",
        "signatures_made",
        "signatures_verified",
    ] {
        assert!(m[field].is_u64(), "messages.{field} missing: {m}");
    }
    assert_eq!(
        (m["logical"].as_u64(), m["formula"].as_u64()),
        (Some(156), Some(156))
    );
    assert!(v["evidence"].as_array().unwrap().is_empty());

    // The 3m+1 bound: a finished run that broke IC2 exits 3.
    let out = generals(&[
        "simulate",
        "--protocol",
        "oral",
        "--nodes",
        "3",
        "--m",
        "1",
        "--traitors",
        "2",
        "--json",
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["ic2"], false);
    // Bad arguments say what is wrong.
    let out = generals(&[
        "simulate",
        "--protocol",
        "signed",
        "--nodes",
        "4",
        "--m",
        "3",
    ]);
    assert_eq!(code(&out), 1);
    assert_stderr_has(&out, "m+2");
}

/// `generals config check` on `config` (and `--peers`, when given), with
/// these variables set: the exit code and stdout.
fn config_check(config: &Path, peers: &[&Path], env: &[(&str, &str)]) -> (i32, String) {
    let mut args = vec!["config", "check", "--config", s(config)];
    if !peers.is_empty() {
        args.push("--peers");
        args.extend(peers.iter().map(|p| s(p)));
    }
    let out = generals_with(&args, env);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    (code(&out), stdout(&out))
}

/// Asserts that exactly one numbered problem line holds every one of `parts`.
#[track_caller]
fn one_problem(report: &str, parts: &[&str]) {
    let hits = report
        .lines()
        .filter(|l| {
            l.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count();
    assert_eq!(hits, 1, "want one problem with {parts:?}:\n{report}");
}

/// Replaces the first `from` in `config` with `to`.
fn edit(config: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(config, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn config_check_reports_every_problem_in_the_file_with_its_key_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 4);
    let config = &nodes[0].config_path;
    let (c, report) = config_check(config, &[], &[]);
    assert_eq!(c, 0, "{report}");
    assert!(report.contains(": OK: node 0 of 4"), "{report}");

    edit(config, "round_timeout_ms = 1000", "round_timeout_ms = 0");
    edit(config, "id = 3\naddr", "id = 2\naddr");
    edit(
        config,
        "127.0.0.1:7002\"\npubkey",
        "127.0.0.1:7001\"\npubkey",
    );
    let pk1 = nodes[1].public.to_string();
    edit(config, &nodes[3].public.to_string(), &pk1);
    let (c, report) = config_check(config, &[], &[]);
    assert_eq!(c, 1, "{report}");
    assert!(report.contains("4 problem(s)"), "{report}");
    one_problem(
        &report,
        &["`round_timeout_ms` = 0", "use a value from 1 to 600000"],
    );
    one_problem(
        &report,
        &["`peers` has two entries with id 2", "renumber or remove"],
    );
    one_problem(&report, &["none with id 3", "add general 3"]);
    one_problem(
        &report,
        &[
            "`addr` of peers 1 and 2",
            "127.0.0.1:7001",
            "another IP or port",
        ],
    );
    // A repeated key, in another node's file.
    let config = &nodes[1].config_path;
    edit(config, "round_timeout_ms = 1000", "round_timeout_ms = 0");
    edit(config, &nodes[2].public.to_string(), &pk1);
    let (c, report) = config_check(config, &[], &[]);
    assert_eq!(c, 1, "{report}");
    assert!(report.contains("2 problem(s)"), "{report}");
    one_problem(&report, &["`pubkey` of peers 1 and 2", "generals keygen"]);
    one_problem(&report, &["`round_timeout_ms` = 0"]);
    assert!(!report.contains("not checked"), "{report}");

    // This host is checked too, though the file is not valid: node 0's
    // key in node 1's place and a file where its data dir belongs.
    std::fs::copy(&nodes[0].key_path, &nodes[1].key_path).unwrap();
    std::fs::write(nodes[1].dir.join("data"), "").unwrap();
    let (c, report) = config_check(config, &[], &[]);
    assert_eq!(c, 1, "{report}");
    assert!(report.contains("4 problem(s)"), "{report}");
    one_problem(
        &report,
        &["`peers[1].pubkey`", "point `key_file` at node 1's key"],
    );
    one_problem(&report, &["`data_dir`", "is not a directory"]);
    // What cannot be checked is said: with no id, whose key is it?
    edit(config, "id = 1\nlisten", "listen");
    let (c, report) = config_check(config, &[&nodes[0].config_path], &[]);
    assert_eq!(c, 1, "{report}");
    one_problem(&report, &["required key `id` is missing"]);
    assert!(
        report.contains(
            "not checked until the file's own problems are fixed: whether key_file holds this \
             node's key, other hosts' [[peers]]"
        ),
        "{report}"
    );
}

#[test]
fn config_check_names_the_variable_that_set_a_bad_value() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 3);
    let (c, report) = config_check(
        &nodes[0].config_path,
        &[],
        &[
            ("GENERALS_ROUND_TIMEOUT_MS", "0"),
            ("GENERALS_LOG", "debug"),
        ],
    );
    assert_eq!(c, 1, "{report}");
    one_problem(
        &report,
        &[
            "environment variable GENERALS_ROUND_TIMEOUT_MS=0",
            "`round_timeout_ms`",
        ],
    );
    // A misspelt variable is named with the right one, as the daemon does.
    let (c, report) = config_check(
        &nodes[0].config_path,
        &[],
        &[("GENERALS_ROUND_TIMOUT_MS", "5")],
    );
    assert_eq!(c, 1, "{report}");
    one_problem(
        &report,
        &[
            "GENERALS_ROUND_TIMOUT_MS",
            "did you mean GENERALS_ROUND_TIMEOUT_MS",
        ],
    );
}

#[test]
fn config_check_finds_a_key_file_that_is_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 3);
    std::fs::copy(&nodes[2].key_path, &nodes[0].key_path).unwrap();
    let (c, report) = config_check(&nodes[0].config_path, &[], &[]);
    assert_eq!(c, 1, "{report}");
    one_problem(
        &report,
        &[
            "`peers[0].pubkey`",
            &nodes[2].public.to_string(),
            "point `key_file` at node 0's key",
        ],
    );
}

#[test]
fn config_check_finds_an_unwritable_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 3);
    let config = &nodes[1].config_path;
    // A file where the data dir belongs: unwritable even for root.
    std::fs::write(nodes[1].dir.join("data"), "").unwrap();
    let (c, report) = config_check(config, &[], &[]);
    assert_eq!(c, 1, "{report}");
    one_problem(
        &report,
        &["`data_dir`", "is not a directory", "point `data_dir` at"],
    );
    // And a directory without write permission, where that means something.
    std::fs::remove_file(nodes[1].dir.join("data")).unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    edit(
        config,
        "data_dir = \"data\"",
        &format!("data_dir = \"{}/data\"", s(&ro)),
    );
    let (c, report) = config_check(config, &[], &[]);
    let root = std::fs::write(ro.join("probe"), "").is_ok();
    if root {
        assert_eq!(c, 0, "{report}");
    } else {
        assert_eq!(c, 1, "{report}");
        one_problem(
            &report,
            &["`data_dir`", "cannot be created", "is not writable"],
        );
    }
}

#[test]
fn config_check_compares_peer_tables_with_other_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 4);
    let net = dir.path().join("net");
    let (c, report) = config_check(&nodes[0].config_path, &[&net], &[]);
    assert_eq!(c, 0, "{report}");
    assert!(report.contains("agrees with 3 other config(s)"), "{report}");

    // Node 2's host moved node 3 and holds another key for node 1.
    let other = &nodes[2].config_path;
    edit(
        other,
        "127.0.0.1:7003\"\npubkey",
        "127.0.0.9:7003\"\npubkey",
    );
    let stranger = NodeKey::generate().public().to_string();
    edit(other, &nodes[1].public.to_string(), &stranger);
    let (c, report) = config_check(&nodes[0].config_path, &[other, &nodes[3].config_path], &[]);
    assert_eq!(c, 1, "{report}");
    assert!(report.contains("2 problem(s)"), "{report}");
    one_problem(
        &report,
        &[
            "`peers[3].addr` is 127.0.0.1:7003",
            s(other),
            "has 127.0.0.9:7003",
            "copy one [[peers]] table",
        ],
    );
    one_problem(&report, &["`peers[1].pubkey`", &stranger]);
    // A --peers that names no other config is not a silent pass.
    let (c, report) = config_check(&nodes[0].config_path, &[&nodes[0].config_path], &[]);
    assert_eq!(c, 1, "{report}");
    one_problem(&report, &["names no other config.toml"]);
}

#[test]
fn testnet_hosts_writes_a_directory_per_host_that_passes_config_check() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("cluster");
    let args = format!(
        "testnet --nodes 6 --out {} --base-port 23400 --hosts 10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4",
        s(&out_dir)
    );
    let out = generals(&args.split(' ').collect::<Vec<_>>());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("10.0.0.2:23405"), "{text}");
    assert!(
        text.contains("only: it holds that host's secret keys"),
        "{text}"
    );
    for i in 0..6u16 {
        let host = i % 4;
        let config = out_dir.join(format!("host{host}/node{i}/config.toml"));
        let cfg = NodeConfig::load_with_env(&config, Vec::new()).unwrap();
        assert_eq!(
            cfg.listen.to_string(),
            format!("10.0.0.{}:{}", host + 1, 23400 + i)
        );
        let (c, report) = config_check(&config, &[&out_dir], &[]);
        assert_eq!(c, 0, "{report}");
        assert!(report.contains("agrees with 5 other config(s)"), "{report}");
    }
    // Each host's directory holds only its own nodes.
    let mut names: Vec<String> = std::fs::read_dir(out_dir.join("host1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["node1", "node5"]);

    // --host keeps working: one IP, OUT/nodeI.
    let single = dir.path().join("single");
    let out = generals(&[
        "testnet",
        "-n",
        "2",
        "--out",
        s(&single),
        "--host",
        "127.0.0.2",
        "--base-port",
        "23500",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cfg = NodeConfig::load_with_env(&single.join("node1/config.toml"), Vec::new()).unwrap();
    assert_eq!(cfg.listen.to_string(), "127.0.0.2:23501");
    let json_dir = dir.path().join("json");
    let args = format!(
        "testnet -n 3 --out {} --hosts 10.0.0.1,10.0.0.2 --json",
        s(&json_dir)
    );
    let out = generals(&args.split(' ').collect::<Vec<_>>());
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["nodes"][2]["host"], 0);
    assert_eq!(v["nodes"][2]["addr"], "10.0.0.1:7002");
    assert_eq!(v["nodes"][1]["dir"], s(&json_dir.join("host1/node1")));
    let out = generals(&[
        "testnet",
        "-n",
        "2",
        "--out",
        s(&single),
        "--hosts",
        "10.0.0.1,box",
    ]);
    assert_eq!(code(&out), 1);
    assert_stderr_has(&out, "--hosts \"box\" is not an IP address");
}

#[test]
fn init_writes_a_node_and_refuses_to_overwrite_anything() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node1");
    let args = [
        "init",
        "--home",
        s(&home),
        "--id",
        "1",
        "--addr",
        "10.0.0.2:23601",
    ];
    let out = generals(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let key_path = home.join("node.key");
    let public = NodeKey::load(&key_path).unwrap().public().to_string();
    let text = stdout(&out);
    assert!(text.contains(&public), "{text}");
    assert!(text.contains("generals config check --config"), "{text}");
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The skeleton is honest about what is missing, and its key is checked.
    let (c, report) = config_check(&home.join("config.toml"), &[], &[]);
    assert_eq!(c, 1, "{report}");
    one_problem(
        &report,
        &["`peers` lists 1 general(s)", "add a [[peers]] entry"],
    );
    assert!(!report.contains("not checked"), "{report}");
    // show-node-id prints what the other hosts need to complete it.
    let config = home.join("config.toml");
    let shown = generals(&["show-node-id", "--config", s(&config), "--json"]);
    assert_eq!(code(&shown), 0, "{}", stderr(&shown));
    let v: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(v["pubkey"], public);
    assert_eq!(v["id"], 1);
    assert_eq!(v["addr"], "10.0.0.2:23601");
    assert_stderr_has(&shown, "cannot run yet (1 problem(s)");

    let before = std::fs::read(&key_path).unwrap();
    let again = generals(&args);
    assert_eq!(code(&again), 1);
    assert_stderr_has(&again, &format!("{} already exists", s(&key_path)));
    assert_stderr_has(&again, "refusing to overwrite");
    assert_eq!(std::fs::read(&key_path).unwrap(), before);
    // With only the config in the way, no key is written beside it.
    std::fs::remove_file(&key_path).unwrap();
    let again = generals(&args);
    assert_eq!(code(&again), 1);
    assert_stderr_has(
        &again,
        &format!("{} already exists", s(&home.join("config.toml"))),
    );
    assert!(!key_path.exists());
}

#[test]
fn show_node_id_prints_the_id_address_and_key_it_checked() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = testnet(dir.path(), 3);
    let config = s(&nodes[2].config_path);
    let out = generals(&["show-node-id", "--config", config]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "node id:    2\naddress:    127.0.0.1:7002\npublic key: {}\n",
            nodes[2].public
        )
    );
    let out = generals(&["show-node-id", "--config", config, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["pubkey"], nodes[2].public.to_string());
    assert_eq!(v["id"], 2);
    // A key that is not node 2's is refused, not printed.
    std::fs::copy(&nodes[0].key_path, &nodes[2].key_path).unwrap();
    let out = generals(&["show-node-id", "--config", config]);
    assert_eq!(code(&out), 1);
    assert_stderr_has(&out, "`peers[2].pubkey`");
    // The fix names a command that prints the key, not show-node-id itself.
    assert_stderr_has(
        &out,
        &format!(
            "`generals keygen --show {}` prints it",
            s(&nodes[2].key_path)
        ),
    );
    assert!(stdout(&out).is_empty());
}
