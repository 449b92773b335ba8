use super::*;
use generals_crypto::{NodeId, NodeKey};

fn pk(i: usize) -> String {
    NodeKey::from_seed([u8::try_from(i).unwrap() + 1; 32])
        .public()
        .to_string()
}

/// A valid config for node `id` of `n`, with `top` inserted among the
/// top-level keys and `tail` appended after the peers.
fn cfg(n: usize, id: usize, top: &str, tail: &str) -> String {
    cfg_in_order(&(0..n).collect::<Vec<_>>(), id, top, tail)
}

/// Like [`cfg`], with the [[peers]] entries written in `order`.
fn cfg_in_order(order: &[usize], id: usize, top: &str, tail: &str) -> String {
    let mut s = format!("id = {id}\nlisten = \"127.0.0.1:{}\"\n{top}\n", 7000 + id);
    for &i in order {
        s += &format!(
            "[[peers]]\nid = {i}\naddr = \"127.0.0.1:{}\"\npubkey = \"{}\"\n",
            7000 + i,
            pk(i)
        );
    }
    s + tail
}

fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load_env(text: &str, env: &[(&str, &str)]) -> Result<NodeConfig, ConfigError> {
    let (_dir, path) = write(text);
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    NodeConfig::load_with_env(&path, env)
}

fn err_env(text: &str, env: &[(&str, &str)]) -> (ConfigError, String) {
    let err = load_env(text, env).unwrap_err();
    let msg = err.to_string();
    (err, msg)
}

fn err(text: &str) -> (ConfigError, String) {
    err_env(text, &[])
}

/// The message names the file (always config.toml here) and each of `parts`.
#[track_caller]
fn says(msg: &str, parts: &[&str]) {
    for p in std::iter::once(&"config.toml").chain(parts) {
        assert!(msg.contains(p), "{msg:?} should contain {p:?}");
    }
}

#[test]
fn minimal_config_gets_defaults_and_config_relative_paths() {
    let (dir, path) = write(&cfg(3, 1, "", ""));
    let c = NodeConfig::load_with_env(&path, Vec::new()).unwrap();
    assert_eq!(c.id, NodeId(1));
    assert_eq!(c.n(), 3);
    assert_eq!(c.listen, "127.0.0.1:7001".parse().unwrap());
    assert_eq!(c.round_timeout(), std::time::Duration::from_millis(1000));
    assert_eq!(c.max_frame_bytes, 16 * 1024 * 1024);
    assert_eq!(
        (c.send_queue_frames, c.max_future_frames, c.max_instances),
        (1024, 4096, 256)
    );
    assert_eq!(c.log, "info");
    assert_eq!(c.key_path(), dir.path().join("node.key"));
    assert_eq!(c.data_dir(), dir.path().join("data"));
    assert_eq!(c.file, path);
    assert!(c.fault.is_none());
    assert_eq!(c.public_keys()[2].to_string(), pk(2));
    assert_eq!(c.peer(NodeId(2)).unwrap().addr.port(), 7002);
    assert!(c.peer(NodeId(3)).is_none());
}

#[test]
fn full_config_with_fault_section_and_unordered_peers() {
    let text = cfg_in_order(
        &[2, 0, 3, 1],
        0,
        "key_file = \"/etc/generals/k\"\ndata_dir = \"state/x\"\nround_timeout_ms = 250\n\
         max_frame_bytes = 1024\nsend_queue_frames = 1\nmax_future_frames = 7\n\
         max_instances = 9\nlog = \"generals=debug\"",
        "[fault]\nstrategy = \"late-reveal\"\ntargets = [2, 3]\nseed = 42\ndelay_ms = 5\n",
    );
    let (dir, path) = write(&text);
    let c = NodeConfig::load_with_env(&path, Vec::new()).unwrap();
    for (i, p) in c.peers.iter().enumerate() {
        assert_eq!(p.id, NodeId(u16::try_from(i).unwrap()));
        assert_eq!(p.pubkey.to_string(), pk(i));
    }
    assert_eq!(c.key_path(), std::path::Path::new("/etc/generals/k"));
    assert_eq!(c.data_dir(), dir.path().join("state/x"));
    assert_eq!((c.round_timeout_ms, c.max_frame_bytes), (250, 1024));
    assert_eq!(
        (c.send_queue_frames, c.max_future_frames, c.max_instances),
        (1, 7, 9)
    );
    assert_eq!(c.log, "generals=debug");
    let f = c.fault.unwrap();
    assert_eq!(f.strategy, FaultStrategy::LateReveal);
    assert_eq!(f.targets, vec![NodeId(2), NodeId(3)]);
    assert_eq!((f.seed, f.delay_ms), (42, 5));
}

#[test]
fn testnet_round_trip() {
    let out = tempfile::tempdir().unwrap();
    let opts = TestnetOptions {
        round_timeout_ms: 300,
        ..TestnetOptions::new(4, out.path().join("net"))
    };
    let nodes = generate_testnet(&opts).unwrap();
    assert_eq!(nodes.len(), 4);
    for (i, node) in nodes.iter().enumerate() {
        let dir = out.path().join("net").join(format!("node{i}"));
        assert_eq!(node.id, NodeId(u16::try_from(i).unwrap()));
        assert_eq!(node.dir, dir);
        assert_eq!(node.config_path, dir.join("config.toml"));
        assert_eq!(node.key_path, dir.join("node.key"));
        let key = NodeKey::load(&node.key_path).unwrap(); // also checks mode 0600
        assert_eq!(key.public(), node.public);

        // The real process environment holds no GENERALS_* settings in tests.
        let c = NodeConfig::load(&node.config_path).unwrap();
        assert_eq!(c.id, node.id);
        assert_eq!(c.listen.port(), 7000 + u16::try_from(i).unwrap());
        assert_eq!(c.key_path(), node.key_path);
        assert_eq!(c.data_dir(), dir.join("data"));
        assert_eq!(c.round_timeout_ms, 300);
        let keys: Vec<_> = nodes.iter().map(|n| n.public).collect();
        assert_eq!(c.public_keys(), keys);
        for (j, p) in c.peers.iter().enumerate() {
            assert_eq!(p.addr, format!("127.0.0.1:{}", 7000 + j).parse().unwrap());
        }
    }
    let text = std::fs::read_to_string(&nodes[0].config_path).unwrap();
    assert!(text.starts_with("# generals node config"), "{text}");
    assert!(text.contains("# round_timeout_ms"), "{text}");
    assert!(
        text.contains(&format!(
            "\nround_work_factor = {DEFAULT_ROUND_WORK_FACTOR}\n"
        )),
        "{text}"
    );
}

#[test]
fn testnet_supports_ipv6_and_other_ports() {
    let out = tempfile::tempdir().unwrap();
    let opts = TestnetOptions {
        host: "::1".into(),
        base_port: 9100,
        ..TestnetOptions::new(2, out.path())
    };
    let nodes = generate_testnet(&opts).unwrap();
    let c = NodeConfig::load_with_env(&nodes[1].config_path, Vec::new()).unwrap();
    assert_eq!(c.listen, "[::1]:9101".parse().unwrap());
}

#[test]
fn testnet_refuses_to_overwrite_a_node() {
    let out = tempfile::tempdir().unwrap();
    let opts = TestnetOptions::new(3, out.path());
    let first = generate_testnet(&opts).unwrap();
    let err = generate_testnet(&opts).unwrap_err();
    let ConfigError::TestnetExists { dir } = &err else {
        panic!("expected TestnetExists, got {err}");
    };
    assert_eq!(dir, &first[0].dir);
    let msg = err.to_string();
    for part in [&*dir.display().to_string(), "--out", "delete", "refusing"] {
        assert!(msg.contains(part), "{msg}");
    }
    // The first testnet is untouched.
    let key = NodeKey::load(&first[0].key_path).unwrap();
    assert_eq!(key.public(), first[0].public);
}

#[test]
fn testnet_rejects_bad_options_before_writing() {
    let out = tempfile::tempdir().unwrap();
    let base = TestnetOptions::new(4, out.path().join("t"));
    let cases = [
        (
            TestnetOptions {
                nodes: 1,
                ..base.clone()
            },
            "--nodes",
            "2 to 128",
        ),
        (
            TestnetOptions {
                nodes: 129,
                ..base.clone()
            },
            "--nodes",
            "2 to 128",
        ),
        (
            TestnetOptions {
                host: "localhost".into(),
                ..base.clone()
            },
            "--host",
            "127.0.0.1",
        ),
        (
            TestnetOptions {
                base_port: 65534,
                ..base.clone()
            },
            "--base-port",
            "use a base port from 1 to 65532",
        ),
        (
            TestnetOptions {
                base_port: 0,
                ..base.clone()
            },
            "--base-port",
            "from 1",
        ),
        (
            TestnetOptions {
                round_timeout_ms: 0,
                ..base.clone()
            },
            "--round-timeout-ms",
            "1 to 600000",
        ),
    ];
    for (opts, option, fix) in cases {
        let err = generate_testnet(&opts).unwrap_err();
        assert!(
            matches!(&err, ConfigError::TestnetOption { option: o, .. } if *o == option),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(option) && msg.contains(fix), "{msg}");
    }
    assert!(!out.path().join("t").exists());
}

#[test]
fn env_overrides_apply() {
    let text = cfg(4, 0, "", "[fault]\nstrategy = \"flip\"\n");
    let env = [
        ("GENERALS_ROUND_TIMEOUT_MS", "500"),
        ("GENERALS_LISTEN", "0.0.0.0:7000"),
        ("GENERALS_FAULT__STRATEGY", "silent"),
        ("GENERALS_FAULT__SEED", "9"),
        ("GENERALS_LOG", "debug"),
        ("GENERALS_DATA_DIR", "/var/lib/generals"),
        ("GENERALS_MAX_FRAME_BYTES", "2048"),
        // Not ours, or not a setting (the CLI may use such variables).
        ("PATH", "/bin"),
        ("GENERALS_CONFIG", "/etc/generals/config.toml"),
        ("GENERALS_DIR", "/srv"),
    ];
    let c = load_env(&text, &env).unwrap();
    assert_eq!(c.round_timeout_ms, 500);
    assert_eq!(c.listen, "0.0.0.0:7000".parse().unwrap());
    let fault = c.fault.clone().unwrap();
    assert_eq!((fault.strategy, fault.seed), (FaultStrategy::Silent, 9));
    assert_eq!(c.log, "debug");
    assert_eq!(c.data_dir(), std::path::Path::new("/var/lib/generals"));
    assert_eq!(c.max_frame_bytes, 2048);
    assert_eq!(c.n(), 4, "peers survive the environment source");

    // An override can create a section the file does not have.
    let c = load_env(&cfg(2, 0, "", ""), &[("GENERALS_FAULT__STRATEGY", "delay")]).unwrap();
    assert_eq!(c.fault.unwrap().strategy, FaultStrategy::Delay);
}

#[test]
fn listen_override_must_keep_the_peer_port() {
    // GENERALS_LISTEN moves the node only together with its [[peers]] entry.
    let text = cfg(2, 0, "", "").replace("127.0.0.1:7000", "127.0.0.1:7100");
    let c = load_env(&text, &[("GENERALS_LISTEN", "127.0.0.1:7100")]).unwrap();
    assert_eq!(c.listen.port(), 7100);

    let (e, msg) = err_env(&cfg(2, 0, "", ""), &[("GENERALS_LISTEN", "127.0.0.1:7100")]);
    assert!(matches!(e, ConfigError::ListenPortMismatch { .. }), "{e}");
    says(
        &msg,
        &[
            "GENERALS_LISTEN",
            "`listen`",
            "7100",
            "127.0.0.1:7000",
            "make the two ports equal",
        ],
    );
}

/// An error about an overridden value starts with the variable: the
/// operator must fix the environment, not the file.
#[track_caller]
fn blames_the_variable(msg: &str, var: &str) {
    let head = format!("environment variable {var}");
    assert!(msg.starts_with(&head), "{msg:?} should start with {head:?}");
}

#[test]
fn bad_env_values_name_the_variable() {
    let text = cfg(2, 0, "", "");
    let strategy = [("GENERALS_FAULT__STRATEGY", "silent")];
    for (var, value) in [
        ("GENERALS_ROUND_TIMEOUT_MS", "soon"),
        ("GENERALS_ROUND_TIMEOUT_MS", "0"),
        ("GENERALS_ROUND_WORK_FACTOR", "1.5"),
        ("GENERALS_LISTEN", "localhost:7000"),
        ("GENERALS_LISTEN", "127.0.0.1:7100"),
        ("GENERALS_ID", "5"),
        ("GENERALS_DATA_DIR", " "),
        ("GENERALS_FAULT__STRATEGY", "sleepy"),
        ("GENERALS_FAULT__SEED", "x"),
        ("GENERALS_FAULT__SEED", "-1"),
        ("GENERALS_FAULT__SEED", "true"),
        ("GENERALS_FAULT__DELAY_MS", "99999999"),
    ] {
        let (_, msg) = err_env(&text, &[strategy[0], (var, value)]);
        blames_the_variable(&msg, var);
        says(&msg, &[var]);
    }
    let (_, msg) = err_env(&text, &[("GENERALS_DATA_DIR", "")]);
    says(&msg, &["unset GENERALS_DATA_DIR to get the default"]);

    let (e, msg) = err_env(&text, &[("GENERALS_ROUND_TIMEOUT_MS", "soon")]);
    assert!(matches!(e, ConfigError::Type { .. }), "{e}");
    says(
        &msg,
        &[
            "GENERALS_ROUND_TIMEOUT_MS",
            "round_timeout_ms",
            "\"soon\"",
            "GENERALS_ROUND_TIMEOUT_MS=1000",
        ],
    );

    let (e, msg) = err_env(&text, &[("GENERALS_ROUND_TIMEOUT_MS", "0")]);
    assert!(matches!(e, ConfigError::OutOfRange { value: 0, .. }), "{e}");
    says(
        &msg,
        &[
            "GENERALS_ROUND_TIMEOUT_MS",
            "round_timeout_ms",
            "from 1 to 600000",
        ],
    );

    let (e, msg) = err_env(&text, &[("GENERALS_LISTEN", "localhost:7000")]);
    assert!(matches!(e, ConfigError::BadAddress { .. }), "{e}");
    says(&msg, &["GENERALS_LISTEN", "`listen`", "127.0.0.1:7000"]);

    let (e, msg) = err_env(&text, &[("GENERALS_FAULT__STRATEGY", "sleepy")]);
    assert!(matches!(e, ConfigError::UnknownStrategy { .. }), "{e}");
    says(
        &msg,
        &[
            "GENERALS_FAULT__STRATEGY",
            "fault.strategy",
            "\"sleepy\"",
            "flip, equivocate",
        ],
    );

    let (e, msg) = err_env(&text, &[("GENERALS_ID", "5")]);
    assert!(
        matches!(e, ConfigError::SelfNotInPeers { id: 5, .. }),
        "{e}"
    );
    says(&msg, &["GENERALS_ID", "`id`", "set `id` to this node's id"]);
}

#[test]
fn env_cannot_touch_peers_and_typos_are_caught() {
    let text = cfg(2, 0, "", "");
    for var in [
        "GENERALS_PEERS",
        "GENERALS_PEERS__0__ADDR",
        "GENERALS_FAULT__TARGETS",
    ] {
        let (e, msg) = err_env(&text, &[(var, "x")]);
        assert!(matches!(e, ConfigError::EnvNotOverridable { .. }), "{e}");
        assert!(msg.contains(var) && msg.contains("edit"), "{msg}");
    }
    let (e, msg) = err_env(&text, &[("GENERALS_ROUND_TIMOUT_MS", "5")]);
    assert!(matches!(e, ConfigError::UnknownEnv { .. }), "{e}");
    assert!(
        msg.contains("GENERALS_ROUND_TIMOUT_MS")
            && msg.contains("did you mean GENERALS_ROUND_TIMEOUT_MS"),
        "{msg}"
    );
    let (e, msg) = err_env(&text, &[("GENERALS_FAULT__STRAT", "flip")]);
    assert!(matches!(e, ConfigError::UnknownEnv { .. }), "{e}");
    assert!(msg.contains("GENERALS_FAULT__STRATEGY"), "{msg}");
}

#[test]
fn missing_file_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let e = NodeConfig::load_with_env(&path, Vec::new()).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("check the path") && msg.contains("generals testnet"),
        "{msg}"
    );
    // A file this user may not read (the installed one is root:generals
    // 0640) needs another user, not a new config. Root reads any file, so
    // the error is made here rather than provoked.
    let e = ConfigError::Read {
        path: path.clone(),
        source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    };
    let msg = e.to_string();
    assert!(
        msg.contains("run the command as the node's user") && !msg.contains("generals testnet"),
        "{msg}"
    );
}

#[test]
fn toml_syntax_error_keeps_the_line() {
    let (e, msg) = err("id = 0\nlisten = \"127.0.0.1:7000\nlog = 3\n");
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
    says(&msg, &["not valid TOML", "line 2", "fix the syntax"]);
}

#[test]
fn missing_required_keys() {
    let full = cfg(2, 0, "", "");
    let cases = [
        (full.replacen("id = 0\n", "", 1), "`id`", "id = 0"),
        (
            full.replacen("listen = \"127.0.0.1:7000\"\n", "", 1),
            "`listen`",
            "listen = \"127.0.0.1:7000\"",
        ),
        (
            "id = 0\nlisten = \"127.0.0.1:7000\"\n".to_owned(),
            "`peers`",
            "[[peers]]",
        ),
        (
            full.replacen(&format!("pubkey = \"{}\"\n", pk(1)), "", 1),
            "`peers[1].pubkey`",
            "generals keygen",
        ),
        (
            cfg(2, 0, "", "[fault]\nseed = 1\n"),
            "`fault.strategy`",
            "strategy = \"silent\"",
        ),
    ];
    for (text, key, fix) in cases {
        let (e, msg) = err(&text);
        assert!(matches!(e, ConfigError::MissingKey { .. }), "{e}");
        says(&msg, &[key, "is missing", fix]);
    }
}

#[test]
fn unknown_keys_are_rejected_with_the_nearest_known_key() {
    let cases = [
        (
            cfg(2, 0, "round_timout_ms = 5", ""),
            "`round_timout_ms`",
            "`round_timeout_ms`",
        ),
        (
            cfg(2, 0, "", "[fault]\nstrategy = \"flip\"\nsed = 1\n"),
            "`fault.sed`",
            "`fault.seed`",
        ),
        (
            cfg(2, 0, "", "").replacen("addr", "adr", 1),
            "`peers[0].adr`",
            "`peers[0].addr`",
        ),
    ];
    for (text, key, nearest) in cases {
        let (e, msg) = err(&text);
        assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e}");
        says(&msg, &[key, nearest, "remove it or fix its spelling"]);
    }
    let (e, msg) = err(&cfg(2, 0, "colour = \"red\"", ""));
    assert!(
        matches!(e, ConfigError::UnknownKey { nearest: None, .. }),
        "{e}"
    );
    says(&msg, &["`colour`", "valid keys here: id, listen"]);
}

#[test]
fn wrong_types_name_the_key_and_an_example() {
    let (e, msg) = err(&cfg(2, 0, "round_timeout_ms = \"fast\"", ""));
    assert!(matches!(e, ConfigError::Type { .. }), "{e}");
    says(
        &msg,
        &["`round_timeout_ms`", "\"fast\"", "round_timeout_ms = 1000"],
    );

    let (e, msg) = err(&cfg(2, 0, "", "").replacen("id = 1", "id = \"one\"", 1));
    assert!(matches!(e, ConfigError::Type { .. }), "{e}");
    says(&msg, &["peers[1].id", "id = 0"]);

    let cases = [
        (
            cfg(2, 0, "round_timeout_ms = 1.5", ""),
            "`round_timeout_ms`",
            "round_timeout_ms = 1000",
        ),
        (
            cfg(2, 0, "max_instances = true", ""),
            "`max_instances`",
            "max_instances = 256",
        ),
        (
            "id = 0\nlisten = \"127.0.0.1:7000\"\n[peers]\nid = 0\n".to_owned(),
            "`peers`",
            "[[peers]] (one per general",
        ),
        (
            cfg(2, 0, "fault = \"silent\"", ""),
            "`fault`",
            "[fault] with strategy",
        ),
        (
            cfg(2, 0, "", "[fault]\nstrategy = \"flip\"\ntargets = 1\n"),
            "`fault.targets`",
            "targets = [2, 3]",
        ),
        (
            cfg(2, 0, "", "[fault]\nstrategy = \"flip\"\ntargets = [1.0]\n"),
            "`fault.targets`",
            "targets = [2, 3]",
        ),
    ];
    for (text, key, fix) in cases {
        let (e, msg) = err(&text);
        assert!(matches!(e, ConfigError::Type { .. }), "{e}");
        says(&msg, &[key, fix]);
        assert!(!msg.contains("Raw"), "{msg}");
    }
}

#[test]
fn peer_ids_must_be_exactly_0_to_n_minus_1() {
    let (e, msg) = err(&cfg(3, 0, "", "").replacen("id = 2", "id = 1", 1));
    assert!(
        matches!(e, ConfigError::DuplicatePeerId { id: 1, .. }),
        "{e}"
    );
    says(&msg, &["`peers`", "id 1", "0..n-1", "remove the duplicate"]);

    let (e, msg) = err(&cfg(3, 0, "", "").replacen("id = 2", "id = 5", 1));
    assert!(matches!(e, ConfigError::MissingPeerId { id: 2, .. }), "{e}");
    says(
        &msg,
        &[
            "`peers`",
            "none with id 2",
            "0, 1, 5",
            "exactly 0 to 2",
            "add general 2 or renumber",
        ],
    );

    let (e, msg) = err(&cfg(3, 0, "", "").replacen("id = 1", "id = -1", 1));
    assert!(matches!(e, ConfigError::MissingPeerId { id: 1, .. }), "{e}");
    says(&msg, &["-1"]);
}

#[test]
fn own_id_must_be_a_peer() {
    let (e, msg) = err(&cfg(3, 0, "", "").replacen("id = 0\nlisten", "id = 3\nlisten", 1));
    assert!(
        matches!(e, ConfigError::SelfNotInPeers { id: 3, .. }),
        "{e}"
    );
    says(
        &msg,
        &[
            "`id` = 3",
            "3 peers",
            "set `id` to this node's id in [[peers]]",
        ],
    );
}

#[test]
fn listen_port_must_match_own_peer_entry() {
    let text = cfg(3, 1, "", "").replacen(
        "listen = \"127.0.0.1:7001\"",
        "listen = \"0.0.0.0:7005\"",
        1,
    );
    let (e, msg) = err(&text);
    assert!(matches!(e, ConfigError::ListenPortMismatch { .. }), "{e}");
    says(
        &msg,
        &[
            "`listen` = 0.0.0.0:7005",
            "127.0.0.1:7001",
            "port 7001",
            "make the two ports equal",
        ],
    );
}

#[test]
fn bad_addresses() {
    let (e, msg) =
        err(&cfg(2, 0, "", "").replacen("addr = \"127.0.0.1:7001\"", "addr = \"node1:7001\"", 1));
    assert!(matches!(e, ConfigError::BadAddress { .. }), "{e}");
    says(
        &msg,
        &[
            "`peers[1].addr`",
            "\"node1:7001\"",
            "write it like \"127.0.0.1:7000\"",
            "host names",
        ],
    );
    let (e, msg) = err(&cfg(2, 0, "", "").replacen("127.0.0.1:7001", "127.0.0.1:0", 1));
    assert!(matches!(e, ConfigError::BadAddress { .. }), "{e}");
    says(&msg, &["`peers[1].addr`", "port 0", "write it like"]);
    // The metrics endpoint's example is a port of its own, not a peer's.
    let (e, msg) = err(&cfg(2, 0, "", "[metrics]\nlisten = \"localhost:9464\"\n"));
    assert!(matches!(e, ConfigError::BadAddress { .. }), "{e}");
    says(
        &msg,
        &["`metrics.listen`", "write it like \"127.0.0.1:9464\""],
    );
}

#[test]
fn bad_pubkey_says_how_to_get_one() {
    for bad in ["abc", &"g".repeat(64), &"ab".repeat(33)] {
        let (e, msg) = err(&cfg(2, 0, "", "").replacen(&pk(1), bad, 1));
        assert!(
            matches!(e, ConfigError::BadPubkey { id: NodeId(1), .. }),
            "{e}"
        );
        says(
            &msg,
            &[
                "`peers[1].pubkey`",
                "64 hexadecimal digits",
                "printed by `generals keygen`",
            ],
        );
    }
}

#[test]
fn two_peers_with_one_key_are_refused() {
    let (e, msg) = err(&cfg(3, 0, "", "").replacen(&pk(2), &pk(0), 1));
    assert!(
        matches!(
            e,
            ConfigError::DuplicatePubkey {
                first: NodeId(0),
                second: NodeId(2),
                ..
            }
        ),
        "{e}"
    );
    says(
        &msg,
        &["`pubkey`", "peers 0 and 2", "run `generals keygen`"],
    );
}

#[test]
fn cluster_size_is_2_to_128() {
    let (e, msg) = err(&cfg(1, 0, "", ""));
    assert!(matches!(e, ConfigError::PeerCount { n: 1, .. }), "{e}");
    says(
        &msg,
        &["`peers`", "1 general", "2 to 128", "add a [[peers]] entry"],
    );

    let (e, msg) = err(&cfg(129, 0, "", ""));
    assert!(matches!(e, ConfigError::PeerCount { n: 129, .. }), "{e}");
    says(&msg, &["`peers`", "129", "split the generals"]);

    assert_eq!(load_env(&cfg(128, 127, "", ""), &[]).unwrap().n(), 128);
}

#[test]
fn numbers_out_of_range() {
    let cases = [
        (
            "round_timeout_ms = 0",
            "",
            "round_timeout_ms",
            "from 1 to 600000",
        ),
        (
            "round_timeout_ms = 600001",
            "",
            "round_timeout_ms",
            "from 1 to 600000",
        ),
        (
            "max_frame_bytes = 1023",
            "",
            "max_frame_bytes",
            "from 1024 to 1073741824",
        ),
        (
            "max_frame_bytes = 1073741825",
            "",
            "max_frame_bytes",
            "from 1024 to 1073741824",
        ),
        (
            "send_queue_frames = 0",
            "",
            "send_queue_frames",
            "of at least 1",
        ),
        (
            "max_future_frames = -3",
            "",
            "max_future_frames",
            "of at least 1",
        ),
        ("max_instances = 0", "", "max_instances", "of at least 1"),
        (
            "",
            "[fault]\nstrategy = \"delay\"\ndelay_ms = 600001\n",
            "fault.delay_ms",
            "from 0 to 600000",
        ),
        (
            "",
            "[fault]\nstrategy = \"random\"\nseed = -1\n",
            "fault.seed",
            "of at least 0",
        ),
    ];
    for (top, tail, key, fix) in cases {
        let (e, msg) = err(&cfg(2, 0, top, tail));
        assert!(matches!(e, ConfigError::OutOfRange { .. }), "{e}");
        says(&msg, &[&format!("`{key}`"), "out of range", fix]);
    }
}

#[test]
fn unknown_fault_strategy_lists_the_valid_ones() {
    let (e, msg) = err(&cfg(2, 0, "", "[fault]\nstrategy = \"lateReveal\"\n"));
    assert!(matches!(e, ConfigError::UnknownStrategy { .. }), "{e}");
    says(
        &msg,
        &[
            "`fault.strategy`",
            "\"lateReveal\"",
            &FaultStrategy::names(),
        ],
    );
}

#[test]
fn fault_targets_must_be_peers() {
    let (e, msg) = err(&cfg(
        3,
        0,
        "",
        "[fault]\nstrategy = \"partial\"\ntargets = [1, 3]\n",
    ));
    assert!(
        matches!(e, ConfigError::BadFaultTarget { id: 3, .. }),
        "{e}"
    );
    says(
        &msg,
        &["`fault.targets`", "names 3", "list only ids from [[peers]]"],
    );
}

#[test]
fn empty_strings_are_refused() {
    let (e, msg) = err(&cfg(2, 0, "log = \"\"", ""));
    assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
    says(&msg, &["`log`", "is empty", "default \"info\""]);
    let (e, msg) = err(&cfg(2, 0, "key_file = \" \"", ""));
    assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
    says(&msg, &["`key_file`", "default \"node.key\""]);
}

#[test]
fn env_names_that_cut_a_setting_short_or_run_past_it_are_typos() {
    let dir = tempfile::tempdir().unwrap();
    let nodes =
        crate::generate_testnet(&crate::TestnetOptions::new(4, dir.path().join("tn"))).unwrap();
    let path = &nodes[0].config_path;
    for (var, want) in [
        ("GENERALS_ROUND_TIMEOUT", "GENERALS_ROUND_TIMEOUT_MS"),
        ("GENERALS_LISTEN_ADDR", "GENERALS_LISTEN"),
    ] {
        let e =
            NodeConfig::load_with_env(path, vec![(var.to_owned(), "1".to_owned())]).unwrap_err();
        assert!(matches!(e, ConfigError::UnknownEnv { .. }), "{var}: {e}");
        assert!(e.to_string().contains(want), "{var}: {e}");
    }
    // A variable meant for something else is still left alone.
    NodeConfig::load_with_env(path, vec![("GENERALS_LOG_FILE".to_owned(), "x".to_owned())])
        .unwrap();
}

#[test]
fn log_format_defaults_to_plain_takes_json_and_names_a_bad_value() {
    use crate::LogFormat;
    let c = load_env(&cfg(2, 0, "", ""), &[]).unwrap();
    assert_eq!(c.log_format, LogFormat::Plain);
    let c = load_env(&cfg(2, 0, "log_format = \"json\"", ""), &[]).unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    let c = load_env(&cfg(2, 0, "", ""), &[("GENERALS_LOG_FORMAT", "json")]).unwrap();
    assert_eq!(c.log_format, LogFormat::Json);

    let (e, msg) = err(&cfg(2, 0, "log_format = \"JSON\"", ""));
    assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
    says(&msg, &["`log_format`", "\"JSON\"", "\"plain\"", "\"json\""]);
    let e = load_env(&cfg(2, 0, "", ""), &[("GENERALS_LOG_FORMAT", "text")]).unwrap_err();
    assert!(e.to_string().contains("GENERALS_LOG_FORMAT"), "{e}");
}

#[test]
fn a_fault_variable_without_a_strategy_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let nodes =
        crate::generate_testnet(&crate::TestnetOptions::new(4, dir.path().join("tn"))).unwrap();
    let e = NodeConfig::load_with_env(
        &nodes[0].config_path,
        vec![("GENERALS_FAULT__SEED".to_owned(), "3".to_owned())],
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::FaultWithoutStrategy { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("GENERALS_FAULT__SEED") && msg.contains("GENERALS_FAULT__STRATEGY"),
        "{msg}"
    );
}

#[test]
fn round_work_keys_default_validate_and_override() {
    let c = load_env(&cfg(2, 0, "", ""), &[]).unwrap();
    assert_eq!(c.round_work_factor, DEFAULT_ROUND_WORK_FACTOR);
    assert_eq!(
        (
            c.work_ps_per_eig_value,
            c.work_ps_per_byte,
            c.work_ps_per_signature
        ),
        (None, None, None),
        "costs are measured unless set"
    );

    let top = "round_work_factor = 0\nwork_ps_per_eig_value = 1500\n\
               work_ps_per_byte = 0\nwork_ps_per_signature = 31000000";
    let c = load_env(&cfg(2, 0, top, ""), &[]).unwrap();
    assert_eq!(c.round_work_factor, 0);
    assert_eq!(
        (
            c.work_ps_per_eig_value,
            c.work_ps_per_byte,
            c.work_ps_per_signature
        ),
        (Some(1500), Some(0), Some(31_000_000))
    );

    let c = load_env(
        &cfg(2, 0, "", ""),
        &[
            ("GENERALS_ROUND_WORK_FACTOR", "4"),
            ("GENERALS_WORK_PS_PER_BYTE", "700"),
        ],
    )
    .unwrap();
    assert_eq!((c.round_work_factor, c.work_ps_per_byte), (4, Some(700)));

    for (top, key, range) in [
        (
            "round_work_factor = -1",
            "round_work_factor",
            "from 0 to 10000",
        ),
        (
            "round_work_factor = 10001",
            "round_work_factor",
            "from 0 to 10000",
        ),
        (
            "work_ps_per_eig_value = -5",
            "work_ps_per_eig_value",
            "from 0 to 1000000000",
        ),
        (
            "work_ps_per_signature = 1000000001",
            "work_ps_per_signature",
            "from 0 to 1000000000",
        ),
    ] {
        let (e, msg) = err(&cfg(2, 0, top, ""));
        assert!(matches!(e, ConfigError::OutOfRange { .. }), "{e}");
        says(&msg, &[&format!("`{key}`"), "out of range", range]);
    }
    // Whole numbers only: costs are in picoseconds so that none needs a fraction.
    let (e, msg) = err(&cfg(2, 0, "work_ps_per_byte = 0.5", ""));
    assert!(matches!(e, ConfigError::Type { .. }), "{e}");
    says(
        &msg,
        &[
            "`work_ps_per_byte`",
            "whole number",
            "work_ps_per_byte = 500",
        ],
    );
    let (e, msg) = err(&cfg(2, 0, "round_work = 8", ""));
    assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e}");
    says(&msg, &["`round_work`"]);
    let (e, msg) = err_env(&cfg(2, 0, "", ""), &[("GENERALS_ROUND_WORK_FACTR", "8")]);
    assert!(matches!(e, ConfigError::UnknownEnv { .. }), "{e}");
    assert!(
        msg.contains("did you mean GENERALS_ROUND_WORK_FACTOR"),
        "{msg}"
    );
}

#[test]
fn testnet_writes_the_same_work_costs_into_every_config() {
    let out = tempfile::tempdir().unwrap();
    let opts = TestnetOptions {
        work_ps: Some(WorkPs {
            eig_value: 3500,
            byte: 150,
            // Above the key's range: clamped so that the file still loads.
            signature: u64::MAX,
        }),
        ..TestnetOptions::new(3, out.path().join("net"))
    };
    for node in generate_testnet(&opts).unwrap() {
        let c = NodeConfig::load_with_env(&node.config_path, Vec::new()).unwrap();
        assert_eq!(
            (
                c.work_ps_per_eig_value,
                c.work_ps_per_byte,
                c.work_ps_per_signature
            ),
            (Some(3500), Some(150), Some(1_000_000_000))
        );
    }
    // Without costs, each daemon measures its own.
    let plain = generate_testnet(&TestnetOptions::new(2, out.path().join("plain"))).unwrap();
    let c = NodeConfig::load_with_env(&plain[0].config_path, Vec::new()).unwrap();
    assert_eq!(c.work_ps_per_eig_value, None);
}

/// Every problem of `text`, as messages, from the check that goes on after one.
fn all_problems(text: &str) -> Vec<String> {
    let (_dir, path) = write(text);
    match NodeConfig::check_with_env(&path, Vec::new()) {
        Ok(_) => Vec::new(),
        Err(r) => r.problems.iter().map(ToString::to_string).collect(),
    }
}

#[track_caller]
fn has_one(problems: &[String], parts: &[&str]) {
    let hits = problems
        .iter()
        .filter(|p| parts.iter().all(|part| p.contains(part)))
        .count();
    assert_eq!(hits, 1, "want one problem with {parts:?} in {problems:#?}");
}

#[test]
fn two_peers_with_one_address_are_refused() {
    let text = cfg(3, 0, "", "").replacen("127.0.0.1:7002", "127.0.0.1:7001", 1);
    let (e, msg) = err(&text);
    assert!(
        matches!(
            e,
            ConfigError::DuplicatePeerAddr {
                first: NodeId(1),
                second: NodeId(2),
                ..
            }
        ),
        "{e}"
    );
    says(
        &msg,
        &[
            "`addr`",
            "peers 1 and 2",
            "127.0.0.1:7001",
            "another IP or port",
        ],
    );
}

#[test]
fn check_reports_every_problem_not_just_the_first() {
    // Four problems in one file: a zero timeout, a duplicate id (entry 3
    // says 1), a duplicate address and a duplicate key (entry 2 copies 0's).
    let text = cfg(4, 0, "round_timeout_ms = 0", "")
        .replacen("id = 3\n", "id = 1\n", 1)
        .replacen("127.0.0.1:7002", "127.0.0.1:7000", 1)
        .replacen(&pk(2), &pk(0), 1);
    let all = all_problems(&text);
    has_one(&all, &["`round_timeout_ms` = 0", "from 1 to 600000"]);
    has_one(&all, &["two entries with id 1", "renumber or remove"]);
    has_one(&all, &["`addr` of peers 0 and 2", "another IP or port"]);
    has_one(&all, &["`pubkey` of peers 0 and 2", "generals keygen"]);
    // Ids 0, 1, 2, 1: id 3 is missing too.
    has_one(&all, &["none with id 3"]);
    assert_eq!(all.len(), 5, "{all:#?}");
    // The daemon's loader still stops at the first, in key order.
    let (e, _) = err(&text);
    assert!(matches!(e, ConfigError::OutOfRange { .. }), "{e}");
}

#[test]
fn check_names_the_variable_that_set_a_bad_value() {
    let (_dir, path) = write(&cfg(3, 0, "", ""));
    let env = [("GENERALS_ROUND_TIMEOUT_MS".to_owned(), "0".to_owned())];
    let all = NodeConfig::check_with_env(&path, env).unwrap_err().problems;
    assert_eq!(all.len(), 1);
    let msg = all[0].to_string();
    assert!(
        msg.contains("environment variable GENERALS_ROUND_TIMEOUT_MS=0"),
        "{msg}"
    );
}

/// A testnet of `n` and its first node's loaded config.
fn net(out: &std::path::Path, n: usize) -> (Vec<TestnetNode>, NodeConfig) {
    let nodes = generate_testnet(&TestnetOptions::new(n, out)).unwrap();
    let c = NodeConfig::load_with_env(&nodes[0].config_path, Vec::new()).unwrap();
    (nodes, c)
}

#[test]
fn check_host_finds_a_key_that_is_not_ours() {
    let out = tempfile::tempdir().unwrap();
    let (nodes, c) = net(out.path(), 3);
    assert!(
        check_host(&HostView::of(&c)).is_empty(),
        "{:?}",
        check_host(&HostView::of(&c))
    );
    // Node 1's key in node 0's place.
    std::fs::copy(&nodes[1].key_path, &nodes[0].key_path).unwrap();
    let all = check_host(&HostView::of(&c));
    assert!(
        matches!(
            all.as_slice(),
            [ConfigError::KeyMismatch { id: NodeId(0), .. }]
        ),
        "{all:?}"
    );
    let msg = all[0].to_string();
    assert!(msg.contains("`peers[0].pubkey`"), "{msg}");
    assert!(msg.contains(&nodes[1].public.to_string()), "{msg}");
    assert!(msg.contains("point `key_file` at node 0's key"), "{msg}");
}

#[test]
fn check_host_finds_an_unwritable_data_dir() {
    let out = tempfile::tempdir().unwrap();
    let (_, c) = net(out.path(), 3);
    // A file where the directory belongs cannot be written even by root.
    std::fs::write(c.data_dir(), "not a dir").unwrap();
    let all: Vec<String> = check_host(&HostView::of(&c))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].contains("`data_dir`"), "{all:?}");
    assert!(all[0].contains("is not a directory"), "{all:?}");
    // Nor can one be created below a file.
    std::fs::remove_file(c.data_dir()).unwrap();
    let (_dir, path) = write(&cfg(3, 0, "data_dir = \"config.toml/data\"", ""));
    let c = NodeConfig::load_with_env(&path, Vec::new()).unwrap();
    let all: Vec<String> = check_host(&HostView::of(&c))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        all.iter().any(|m| m.contains("cannot be created")),
        "{all:?}"
    );
}

#[test]
fn compare_peers_names_each_disagreement() {
    let out = tempfile::tempdir().unwrap();
    let (_, ours) = net(&out.path().join("a"), 3);
    let (_, same) = net(&out.path().join("b"), 3);
    // Another testnet: every key differs, every address agrees.
    let diffs = compare_peers(&ours, &same);
    assert_eq!(diffs.len(), 3, "{diffs:?}");
    let msg = diffs[1].to_string();
    assert!(msg.contains("`peers[1].pubkey`"), "{msg}");
    assert!(msg.contains("copy one [[peers]] table"), "{msg}");
    assert!(compare_peers(&ours, &ours).is_empty());
    // An address that moved.
    let moved = std::fs::read_to_string(&ours.file).unwrap().replacen(
        "127.0.0.1:7002",
        "127.0.0.9:7002",
        1,
    );
    let (_dir, path) = write(&moved);
    let theirs = NodeConfig::load_with_env(&path, Vec::new()).unwrap();
    let diffs: Vec<String> = compare_peers(&ours, &theirs)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert!(
        diffs[0].contains("`peers[2].addr` is 127.0.0.1:7002"),
        "{diffs:?}"
    );
    assert!(diffs[0].contains("has 127.0.0.9:7002"), "{diffs:?}");
    // A different number of generals.
    let (_, four) = net(&out.path().join("c"), 4);
    let diffs = compare_peers(&ours, &four);
    assert_eq!(diffs.len(), 1);
    assert!(diffs[0].to_string().contains("3 generals"), "{}", diffs[0]);
}

#[test]
fn testnet_hosts_puts_each_host_in_its_own_directory() {
    let out = tempfile::tempdir().unwrap();
    let opts = TestnetOptions {
        hosts: vec!["10.0.0.1".into(), "10.0.0.2".into(), "::1".into()],
        base_port: 23000,
        ..TestnetOptions::new(5, out.path())
    };
    let nodes = generate_testnet(&opts).unwrap();
    let configs: Vec<NodeConfig> = nodes
        .iter()
        .map(|n| NodeConfig::load_with_env(&n.config_path, Vec::new()).unwrap())
        .collect();
    let want = [
        (0, "10.0.0.1:23000"),
        (1, "10.0.0.2:23001"),
        (2, "[::1]:23002"),
        (0, "10.0.0.1:23003"),
        (1, "10.0.0.2:23004"),
    ];
    for ((node, c), (host, addr)) in nodes.iter().zip(&configs).zip(want) {
        let i = node.id.0;
        assert_eq!(node.host, host);
        assert_eq!(node.dir, out.path().join(format!("host{host}/node{i}")));
        assert_eq!(c.listen.to_string(), addr);
        assert_eq!(node.addr.to_string(), addr);
        assert!(compare_peers(&configs[0], c).is_empty());
    }
    for (hosts, problem) in [
        (vec!["10.0.0.1", "box2"], "\"box2\" is not an IP address"),
        (vec!["10.0.0.1", "10.0.0.1"], "lists 10.0.0.1 twice"),
        (
            vec!["1.1.1.1", "1.1.1.2", "1.1.1.3"],
            "3 hosts for 2 generals",
        ),
    ] {
        let opts = TestnetOptions {
            hosts: hosts.into_iter().map(String::from).collect(),
            ..TestnetOptions::new(2, out.path().join("bad"))
        };
        let msg = generate_testnet(&opts).unwrap_err().to_string();
        assert!(msg.contains("--hosts") && msg.contains(problem), "{msg}");
    }
    assert!(!out.path().join("bad").exists());
}

#[test]
fn init_writes_a_key_and_a_skeleton_and_never_overwrites() {
    let out = tempfile::tempdir().unwrap();
    let home = out.path().join("node2");
    let opts = InitOptions {
        home: home.clone(),
        id: NodeId(2),
        addr: "10.0.0.3:7002".parse().unwrap(),
    };
    let node = init_node(&opts).unwrap();
    assert_eq!(node.config_path, home.join("config.toml"));
    let key = NodeKey::load(&node.key_path).unwrap();
    assert_eq!(key.public(), node.public);
    let text = std::fs::read_to_string(&node.config_path).unwrap();
    assert!(
        text.contains("id = 2\nlisten = \"10.0.0.3:7002\""),
        "{text}"
    );
    assert!(
        text.contains(&format!("pubkey = \"{}\"", node.public)),
        "{text}"
    );
    // The skeleton lists only this node: the check says what to add.
    let all = NodeConfig::check_with_env(&node.config_path, Vec::new())
        .unwrap_err()
        .problems;
    assert!(
        matches!(all.as_slice(), [ConfigError::PeerCount { n: 1, .. }]),
        "{all:?}"
    );

    // Neither file is overwritten, and the error names the one in the way.
    let before = std::fs::read(&node.key_path).unwrap();
    let e = init_node(&opts).unwrap_err().to_string();
    assert!(e.contains(&node.key_path.display().to_string()), "{e}");
    assert!(e.contains("refusing to overwrite"), "{e}");
    assert_eq!(std::fs::read(&node.key_path).unwrap(), before);
    std::fs::remove_file(&node.key_path).unwrap();
    let e = init_node(&opts).unwrap_err().to_string();
    assert!(e.contains(&node.config_path.display().to_string()), "{e}");
    assert!(
        !node.key_path.exists(),
        "a key was written next to an old config"
    );
}

/// The `GENERALS_*` names are a contract with operators' unit drop-ins and
/// scripts (docs/OPERATIONS.md, Environment overrides): each of today's
/// names still sets its key, and a bad value set through it is blamed on it.
#[test]
fn every_environment_override_keeps_its_name_and_is_named_in_errors() {
    let names = [
        ("GENERALS_ID", "id", "1", "-1"),
        ("GENERALS_LISTEN", "listen", "127.0.0.2:7001", "nowhere"),
        ("GENERALS_KEY_FILE", "key_file", "other.key", " "),
        ("GENERALS_DATA_DIR", "data_dir", "/var/lib/x", " "),
        ("GENERALS_ROUND_TIMEOUT_MS", "round_timeout_ms", "5", "0"),
        ("GENERALS_ROUND_WORK_FACTOR", "round_work_factor", "3", "-1"),
        (
            "GENERALS_WORK_PS_PER_EIG_VALUE",
            "work_ps_per_eig_value",
            "7",
            "-1",
        ),
        ("GENERALS_WORK_PS_PER_BYTE", "work_ps_per_byte", "7", "-1"),
        (
            "GENERALS_WORK_PS_PER_SIGNATURE",
            "work_ps_per_signature",
            "7",
            "-1",
        ),
        ("GENERALS_MAX_FRAME_BYTES", "max_frame_bytes", "4096", "1"),
        ("GENERALS_SEND_QUEUE_FRAMES", "send_queue_frames", "9", "0"),
        ("GENERALS_MAX_FUTURE_FRAMES", "max_future_frames", "9", "0"),
        ("GENERALS_MAX_INSTANCES", "max_instances", "9", "0"),
        ("GENERALS_LOG", "log", "debug", " "),
        (
            "GENERALS_FAULT__STRATEGY",
            "fault.strategy",
            "silent",
            "bogus",
        ),
        ("GENERALS_FAULT__SEED", "fault.seed", "4", "-1"),
        ("GENERALS_FAULT__DELAY_MS", "fault.delay_ms", "4", "-1"),
    ];
    let text = cfg(3, 1, "", "");
    for (var, key, good, bad) in names {
        let with = |value: &str| {
            let mut env = vec![(var, value)];
            if key.starts_with("fault.") && key != "fault.strategy" {
                env.push(("GENERALS_FAULT__STRATEGY", "silent"));
            }
            load_env(&text, &env)
        };
        let c = with(good).unwrap_or_else(|e| panic!("{var}={good}: {e}"));
        assert_eq!(c.env_var_of(key), Some(var), "{var}");
        let msg = with(bad).map(|_| ()).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("environment variable {var}")),
            "{var}={bad:?}: {msg}"
        );
    }
}

#[test]
fn check_reports_every_unknown_key_and_mistyped_number() {
    let text = cfg(3, 0, "round_timout_ms = 5\nmax_instances = 2.5", "")
        .replacen("pubkey =", "pubky =", 1);
    let all = all_problems(&text);
    has_one(
        &all,
        &[
            "unknown key `round_timout_ms`",
            "did you mean `round_timeout_ms`",
        ],
    );
    has_one(
        &all,
        &[
            "unknown key `peers[0].pubky`",
            "did you mean `peers[0].pubkey`",
        ],
    );
    has_one(
        &all,
        &["`max_instances`", "expected a whole number, found 2.5"],
    );
    assert_eq!(all.len(), 3, "{all:#?}");
}

#[test]
fn metrics_are_off_by_default_and_take_a_table_or_a_variable() {
    let c = load_env(&cfg(2, 0, "", ""), &[]).unwrap();
    assert_eq!(c.metrics_listen, None);
    let tail = "[metrics]\nlisten = \"127.0.0.1:9464\"\n";
    let c = load_env(&cfg(2, 0, "", tail), &[]).unwrap();
    assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
    let var = ("GENERALS_METRICS__LISTEN", "[::1]:9100");
    let c = load_env(&cfg(2, 0, "", tail), &[var]).unwrap();
    assert_eq!(c.metrics_listen, Some("[::1]:9100".parse().unwrap()));
    assert_eq!(
        c.env_var_of("metrics.listen"),
        Some("GENERALS_METRICS__LISTEN")
    );
    let c = load_env(&cfg(2, 0, "", ""), &[var]).unwrap();
    assert_eq!(c.metrics_listen, Some("[::1]:9100".parse().unwrap()));
}

#[test]
fn metrics_listen_is_checked_like_every_address_and_must_not_take_a_link_port() {
    let (e, msg) = err(&cfg(2, 0, "", "[metrics]\n"));
    assert!(matches!(e, ConfigError::MissingKey { .. }), "{e}");
    says(&msg, &["metrics.listen"]);
    let (_, msg) = err(&cfg(2, 0, "", "[metrics]\nlisten = \"localhost:9464\"\n"));
    says(&msg, &["metrics.listen", "localhost:9464"]);
    let (_, msg) = err(&cfg(
        2,
        0,
        "",
        "[metrics]\nlisten = \"127.0.0.1:9464\"\nport = 1\n",
    ));
    says(&msg, &["metrics.port"]);
    // Our own listen port, on the same IP or on every IP.
    for taken in ["127.0.0.1:7000", "0.0.0.0:7000"] {
        let tail = format!("[metrics]\nlisten = \"{taken}\"\n");
        let (e, msg) = err(&cfg(2, 0, "", &tail));
        assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
        says(
            &msg,
            &["`metrics.listen`", "`listen` (127.0.0.1:7000)", "9464"],
        );
    }
    // Another general's address on this host.
    let (_, msg) = err(&cfg(2, 0, "", "[metrics]\nlisten = \"127.0.0.1:7001\"\n"));
    says(&msg, &["peers[1].addr (127.0.0.1:7001)"]);
    let (_, msg) = err_env(
        &cfg(2, 0, "", ""),
        &[("GENERALS_METRICS__LISTEN", "127.0.0.1:7001")],
    );
    says(&msg, &["GENERALS_METRICS__LISTEN"]);
    // The same port on another IP is another socket.
    let c = load_env(
        &cfg(2, 0, "", "[metrics]\nlisten = \"127.0.0.2:7001\"\n"),
        &[],
    )
    .unwrap();
    assert_eq!(c.metrics_listen, Some("127.0.0.2:7001".parse().unwrap()));
}
