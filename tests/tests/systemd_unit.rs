//! The shipped systemd files: `systemd/generals@.service` and
//! `generals.target` are accepted by `systemd-analyze verify`; the service
//! keeps the hardening, reload, watchdog and command line that
//! docs/OPERATIONS.md describes, and its command line and `Environment=`
//! overrides are accepted by the current CLI and config loader; the
//! sysusers.d and tmpfiles.d files, applied by `systemd-sysusers` and
//! `systemd-tmpfiles` to a scratch root, give the user, owners and modes the
//! service needs.
//!
//! Nothing here starts systemd or talks to a service manager: `verify` only
//! parses the files (and the units they name) offline, and the sysusers and
//! tmpfiles runs touch only the scratch root (`--root`).
//! `systemd/test-under-nspawn.sh` runs them under a real systemd.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use generals_config::{generate_testnet, NodeConfig, TestnetOptions};

/// The unit as shipped.
const UNIT: &str = include_str!("../../systemd/generals@.service");
/// The target every node of a host is enabled into.
const TARGET: &str = include_str!("../../systemd/generals.target");
const SYSUSERS: &str = include_str!("../../systemd/sysusers.d/generals.conf");
const TMPFILES: &str = include_str!("../../systemd/tmpfiles.d/generals.conf");
/// The instance the tests verify: `systemd-analyze verify` needs a concrete
/// instance name to resolve `%i`.
const INSTANCE: &str = "node0";
/// The binary the shipped unit runs; the tests point it at the one Cargo built.
const INSTALLED_BIN: &str = "/usr/local/bin/generals";
const EXEC_ARGS: &str = "node --config /etc/generals/%i/config.toml";

/// A directory under Cargo's per-target temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("systemd_unit-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_generals-e2e")
}

/// A systemd tool (`systemd-analyze`, `systemd-sysusers`, ...), or a
/// failure that says what to install. The tests must not pass vacuously: CI
/// runs on machines where the tools are present.
fn systemd_tool(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    match on_path {
        Some(p) => p,
        None => panic!(
            "{name} was not found on PATH or in /usr/bin: install the `systemd` \
             package (e.g. `apt-get install systemd`) to run this test; it checks \
             the files in systemd/ and must not be skipped"
        ),
    }
}

/// The `[Service]` (or any) section's `Key=value` lines, in order per key.
fn section(unit: &str, name: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut inside = false;
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == format!("[{name}]");
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a Key=value line in [{name}]: {line:?}"));
        out.entry(k.trim().to_owned())
            .or_default()
            .push(v.trim().to_owned());
    }
    out
}

/// The single value of `key`, failing if it is absent or set twice.
fn one<'a>(sec: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    match sec.get(key).map(Vec::as_slice) {
        Some([v]) => v,
        Some(vs) => panic!("{key}= is set {} times in the unit: {vs:?}", vs.len()),
        None => panic!("the unit has no {key}="),
    }
}

/// The unit with ExecStart running `binary` instead of the installed path.
fn unit_running(binary: &str) -> String {
    let from = format!("ExecStart={INSTALLED_BIN} ");
    assert_eq!(
        UNIT.matches(&from).count(),
        1,
        "the unit should have exactly one `{from}...` line"
    );
    UNIT.replace(&from, &format!("ExecStart={binary} "))
}

/// Runs `systemd-analyze verify --man=no` on `unit`, saved as
/// `generals@node0.service`, and `target`, saved as `generals.target`, in a
/// fresh directory; returns (success, output lines that concern them, the
/// whole output).
fn verify(unit: &str, target: &str, tag: &str) -> (bool, Vec<String>, String) {
    let dir = TempDir::new(tag);
    let name = format!("generals@{INSTANCE}.service");
    std::fs::write(dir.0.join(&name), unit).unwrap();
    std::fs::write(dir.0.join("generals.target"), target).unwrap();
    let out = Command::new(systemd_tool("systemd-analyze"))
        .args(["verify", "--man=no"])
        .arg(&name)
        .arg("generals.target")
        .current_dir(&dir.0)
        // Plain text, whatever the caller's terminal settings.
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = text
        .lines()
        .filter(|l| {
            l.contains(&name)
                || l.contains("generals.target")
                || l.contains(&*dir.0.to_string_lossy())
        })
        .map(str::to_owned)
        .collect();
    (out.status.success(), ours, text)
}

/// The lines of `verify` output that are real problems with our unit.
///
/// `systemd-analyze verify` exits 0 for many mistakes (an unknown key, a
/// misspelt section, a value it cannot parse: it logs "..., ignoring" and
/// goes on), so the exit status alone proves little. It prints nothing at all
/// for the shipped unit on systemd 252, and it does not check that `User=`
/// exists, so there is no benign warning to allow: every line naming our unit
/// that reports an error, a failure, something unknown or invalid, or a
/// setting it ignored, fails the test. Lines about other units (host units
/// pulled in by After=/Wants=) are not ours to fix and are not counted.
fn problems(lines: &[String]) -> Vec<String> {
    const WORDS: [&str; 6] = [
        "error",
        "failed",
        "unknown",
        "invalid",
        "ignoring",
        "not executable",
    ];
    lines
        .iter()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            WORDS.iter().any(|w| l.contains(w))
        })
        .cloned()
        .collect()
}

#[test]
fn systemd_analyze_verify_accepts_the_unit_and_the_target() {
    let (ok, ours, all) = verify(&unit_running(bin()), TARGET, "good");
    assert!(ok, "systemd-analyze verify failed:\n{all}");
    let bad = problems(&ours);
    assert!(
        bad.is_empty(),
        "systemd-analyze verify reported problems with generals@.service or generals.target:\n{}\n\nfull output:\n{all}",
        bad.join("\n")
    );
}

/// The check above must be able to fail: a unit with an unknown key and an
/// unparsable value (both only "ignored" by systemd, exit status 0) is caught.
#[test]
fn the_verify_check_catches_a_broken_unit() {
    let broken = unit_running(bin())
        .replace("ProtectSystem=strict", "ProtectSystem=strictly")
        .replace("UMask=0077", "UMask=0077\nNoSuchSetting=yes");
    let broken_target = format!("{TARGET}\n[Unit]\nNoSuchTargetSetting=yes\n");
    let (_, ours, all) = verify(&broken, &broken_target, "broken");
    let bad = problems(&ours);
    assert!(
        bad.iter().any(|l| l.contains("NoSuchSetting")),
        "an unknown key was not reported; systemd-analyze's output format may have changed:\n{all}"
    );
    assert!(
        bad.iter().any(|l| l.contains("strictly")),
        "an invalid ProtectSystem= value was not reported:\n{all}"
    );
    assert!(
        bad.iter().any(|l| l.contains("NoSuchTargetSetting")),
        "an unknown key in the target was not reported:\n{all}"
    );
}

#[test]
fn the_unit_keeps_the_command_and_hardening_the_docs_describe() {
    let svc = section(UNIT, "Service");
    assert_eq!(
        one(&svc, "ExecStart"),
        format!("{INSTALLED_BIN} {EXEC_ARGS}")
    );
    // The node sends READY=1 and STOPPING=1 (tests/resilience.rs checks it).
    assert_eq!(one(&svc, "Type"), "notify");
    assert_eq!(one(&svc, "NotifyAccess"), "main");
    assert_eq!(one(&svc, "User"), "generals");
    assert_eq!(one(&svc, "Group"), "generals");
    assert_eq!(one(&svc, "NoNewPrivileges"), "yes");
    assert_eq!(one(&svc, "ProtectSystem"), "strict");
    assert_eq!(one(&svc, "ProtectHome"), "yes");
    assert_eq!(one(&svc, "PrivateTmp"), "yes");
    assert_eq!(one(&svc, "StateDirectory"), "generals/%i");
    assert_eq!(one(&svc, "StateDirectoryMode"), "0700");
    assert_eq!(one(&svc, "UMask"), "0077");
    assert_eq!(one(&svc, "CapabilityBoundingSet"), "");
    assert_eq!(one(&svc, "KillSignal"), "SIGTERM");
    assert_eq!(one(&svc, "ReadOnlyPaths"), "/etc/generals");
    let families = one(&svc, "RestrictAddressFamilies");
    for family in ["AF_INET", "AF_INET6", "AF_UNIX"] {
        assert!(
            families.split_whitespace().any(|f| f == family),
            "RestrictAddressFamilies= must allow {family} (peers use TCP, the CLI a Unix socket): {families}"
        );
    }
    let env = environment(&svc);
    // The config file is the one source of data_dir: the CLI reads it to find
    // control.sock, and it cannot see variables set only in the unit.
    assert!(
        !env.keys().any(|k| k == "GENERALS_DATA_DIR"),
        "the unit must not override data_dir behind the CLI's back"
    );
    assert_eq!(env.get("NO_COLOR").map(String::as_str), Some("1"));
    // Reload is SIGHUP (tests/reload.rs); the node pings the watchdog.
    assert_eq!(one(&svc, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert!(
        one(&svc, "WatchdogSec")
            .trim_end_matches('s')
            .parse::<u32>()
            .is_ok_and(|s| s >= 10),
        "WatchdogSec= should leave the main loop at least 10 s"
    );
    // Enabled into generals.target, which starts and stops them together.
    let unit = section(UNIT, "Unit");
    assert_eq!(one(&unit, "PartOf"), "generals.target");
    let install = section(UNIT, "Install");
    assert_eq!(one(&install, "WantedBy"), "generals.target");
    let target = section(TARGET, "Install");
    assert_eq!(one(&target, "WantedBy"), "multi-user.target");
}

/// `systemd-sysusers` and `systemd-tmpfiles`, run on the shipped files with
/// `--root` a scratch directory (node0's files already in place, with the
/// wrong modes, as `generals testnet` and a copy leave them), create the
/// user and group the unit runs as and give every path its owner and mode.
#[test]
fn sysusers_and_tmpfiles_give_the_user_owners_and_modes_the_unit_needs() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !rustix::process::geteuid().is_root() {
        // Owners cannot be set otherwise; CI runs as root.
        eprintln!("SKIPPED: not root, and systemd-tmpfiles must chown in the scratch root");
        return;
    }
    let root = TempDir::new("tmpfiles");
    let conf = root.0.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("sysusers.conf"), SYSUSERS).unwrap();
    std::fs::write(conf.join("tmpfiles.conf"), TMPFILES).unwrap();
    let node0 = root.0.join("etc/generals/node0");
    std::fs::create_dir_all(&node0).unwrap();
    for (file, mode) in [("config.toml", 0o644), ("node.key", 0o644)] {
        std::fs::write(node0.join(file), "x").unwrap();
        std::fs::set_permissions(node0.join(file), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let run = |tool: &str, args: &[&str]| {
        let out = Command::new(systemd_tool(tool))
            .arg(format!("--root={}", root.0.display()))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{tool} {args:?} failed:\n{stderr}");
        stderr
    };
    run(
        "systemd-sysusers",
        &[conf.join("sysusers.conf").to_str().unwrap()],
    );
    let warnings = run(
        "systemd-tmpfiles",
        &["--create", conf.join("tmpfiles.conf").to_str().unwrap()],
    );
    assert!(warnings.is_empty(), "systemd-tmpfiles warned:\n{warnings}");

    let passwd = std::fs::read_to_string(root.0.join("etc/passwd")).unwrap();
    let user: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("generals:"))
        .unwrap_or_else(|| panic!("no user generals in {passwd}"))
        .split(':')
        .collect();
    let svc = section(UNIT, "Service");
    assert_eq!(user[0], one(&svc, "User"));
    assert_eq!(user[5], "/var/lib/generals");
    assert_eq!(user[6], "/usr/sbin/nologin");
    let uid: u32 = user[2].parse().unwrap();
    let group = std::fs::read_to_string(root.0.join("etc/group")).unwrap();
    let gid: u32 = group
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{}:x:", one(&svc, "Group"))))
        .and_then(|rest| rest.split(':').next())
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no group generals in {group}"));

    for (path, owner, mode) in [
        ("etc/generals", (0, gid), 0o750),
        ("etc/generals/node0/config.toml", (0, gid), 0o640),
        ("etc/generals/node0/node.key", (uid, gid), 0o600),
        ("var/lib/generals", (0, 0), 0o755),
    ] {
        let meta = std::fs::metadata(root.0.join(path)).unwrap();
        assert_eq!(
            ((meta.uid(), meta.gid()), meta.mode() & 0o7777),
            (owner, mode),
            "{path}: (uid, gid) and mode"
        );
    }
}

/// `Environment=` assignments; the unit uses no quoting, and this parser does
/// not handle any, so quotes are refused rather than misread.
fn environment(svc: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for line in svc.get("Environment").into_iter().flatten() {
        assert!(
            !line.contains('"') && !line.contains('\''),
            "quoted Environment= is not supported by this test: {line}"
        );
        for assignment in line.split_whitespace() {
            let (k, v) = assignment.split_once('=').unwrap();
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    env
}

/// The unit's `GENERALS_*` variables are real settings (a misspelt one is
/// either refused or, if far from every setting, silently ignored), and they
/// leave data_dir to config.toml, which the CLI reads too.
#[test]
fn the_units_environment_is_accepted_by_the_config_loader() {
    let dir = TempDir::new("env");
    let nodes = generate_testnet(&TestnetOptions::new(4, dir.0.join("testnet"))).unwrap();
    let svc = section(UNIT, "Service");
    let env: Vec<(String, String)> = environment(&svc)
        .into_iter()
        .map(|(k, v)| (k, v.replace("%i", INSTANCE)))
        .collect();
    let cfg = NodeConfig::load_with_env(&nodes[0].config_path, env.clone())
        .unwrap_or_else(|e| panic!("the unit's Environment= {env:?} is refused: {e}"));
    assert_eq!(
        cfg.data_dir(),
        nodes[0].dir.join("data"),
        "the unit's environment must leave data_dir to config.toml"
    );
}

/// The unit's command line parses: with a config path that does not exist,
/// `generals node` gets past argument parsing (exit 2 would be a usage error)
/// and fails reading the config.
#[test]
fn the_units_command_line_is_accepted_by_the_cli() {
    let dir = TempDir::new("cli");
    let missing = dir.0.join("missing").join("config.toml");
    let args = EXEC_ARGS.replace("/etc/generals/%i/config.toml", missing.to_str().unwrap());
    let out = Command::new(bin())
        .args(args.split_whitespace())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a config error (exit 1), got {:?}:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("cannot read config file"),
        "expected the missing-config error:\n{stderr}"
    );
}
