//! `simulate --picture`: the SVG read back as XML against the run it draws.
//! One lane per general, one arrowhead per frame the trace holds, a LIE
//! marker on every traitor frame that lied, a ✗ and a reason on every
//! refused one, each general's decision at the end of its lane, the IC
//! verdicts in the title, and for OM a lieutenant's EIG tree.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::process::Command;

use generals_crypto::{NodeId, Order};
use generals_node::picture::{self, FrameKind};
use generals_node::protocol::adversary::Strategy;
use generals_node::sim::{run_traced, SimConfig, SimReport, Trace};
use generals_wire::Protocol;

/// One `<text>` of the SVG.
#[derive(Debug)]
struct Text {
    x: i32,
    y: i32,
    content: String,
    fill: String,
}

/// What the tests read from a picture.
struct Svg {
    texts: Vec<Text>,
    /// Each `<polygon>`'s fill: the arrowheads.
    heads: Vec<String>,
}

fn parse(svg: &str) -> Svg {
    let doc = roxmltree::Document::parse(svg).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let num = |n: &roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<i32>().unwrap();
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| Text {
            x: num(&n, "x"),
            y: num(&n, "y"),
            content: n.text().unwrap_or_default().trim().to_owned(),
            fill: n.attribute("fill").unwrap_or_default().to_owned(),
        })
        .collect();
    let heads = doc
        .descendants()
        .filter(|n| n.has_tag_name("polygon"))
        .map(|n| n.attribute("fill").unwrap_or_default().to_owned())
        .collect();
    Svg { texts, heads }
}

impl Svg {
    fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.texts.iter().filter(|t| pred(&t.content)).count()
    }

    fn has(&self, s: &str) -> bool {
        self.texts.iter().any(|t| t.content.contains(s))
    }

    /// The text at the end of general `id`'s lane: on the lane label's
    /// line, right of every arrow.
    fn decision(&self, id: NodeId) -> &str {
        let label = format!("general {id}");
        let lane = self.texts.iter().find(|t| t.content == label).unwrap();
        self.texts
            .iter()
            .filter(|t| t.y == lane.y && t.x > 1000)
            .map(|t| t.content.as_str())
            .next()
            .unwrap_or_else(|| panic!("nothing at the end of {label}'s lane"))
    }
}

/// (fill of a frame of this kind, as plotters writes it).
fn fill(kind: FrameKind) -> &'static str {
    match kind {
        FrameKind::Loyal => "#1E5AC8",
        FrameKind::Empty => "#AFAFAF",
        FrameKind::Lie => "#C82828",
        FrameKind::Rejected => "#E68200",
    }
}

fn run(
    protocol: Protocol,
    n: usize,
    traitors: &[u16],
    strategy: Strategy,
) -> (SimReport, Trace, Svg) {
    let mut cfg = SimConfig::new(protocol, n, 1).traitors(traitors.iter().copied(), strategy);
    cfg.record_frames = true;
    let (report, trace) = run_traced(&cfg).unwrap();
    let svg = picture::draw(&report, &trace, None).unwrap();
    (report, trace, parse(&svg))
}

/// What every picture must show, whatever the run.
fn check_common(what: &str, report: &SimReport, trace: &Trace, svg: &Svg) {
    // One lane per general, no more.
    for id in 0..report.n as u16 {
        let label = format!("general {id}");
        assert_eq!(svg.count(|t| t == label), 1, "{what}: {label}");
    }
    assert_eq!(svg.count(|t| t.starts_with("general ")), report.n, "{what}");
    // One arrowhead per frame, coloured by its kind.
    assert!(!trace.frames.is_empty(), "{what}: no frames recorded");
    assert_eq!(svg.heads.len(), trace.frames.len(), "{what}: arrowheads");
    assert_eq!(
        trace.frames.len() as u64,
        report.messages.frames,
        "{what}: the trace holds every frame the counters count"
    );
    for kind in [
        FrameKind::Loyal,
        FrameKind::Empty,
        FrameKind::Lie,
        FrameKind::Rejected,
    ] {
        let want = trace
            .frames
            .iter()
            .filter(|f| FrameKind::of(f) == kind)
            .count();
        let got = svg.heads.iter().filter(|h| *h == fill(kind)).count();
        assert_eq!(got, want, "{what}: {kind:?} arrowheads");
    }
    // A LIE marker on each lying frame, and a line saying what it had.
    let lies = trace.frames.iter().filter(|f| f.lie()).count();
    assert_eq!(
        svg.count(|t| t.contains("  LIE")),
        lies,
        "{what}: LIE labels"
    );
    assert_eq!(
        svg.count(|t| t.starts_with("LIE: round")),
        lies,
        "{what}: LIE notes"
    );
    for f in trace.frames.iter().filter(|f| f.lie()) {
        assert!(
            report.traitors.contains(&f.from),
            "{what}: a loyal {} lied",
            f.from
        );
    }
    // Each refusal, with its reason.
    for f in &trace.frames {
        for (kind, reason) in &f.rejected {
            let note = format!(
                "✗ round {}, {} → {}: refused ({kind}): {reason}",
                f.round, f.from, f.to
            );
            assert!(svg.has(&note), "{what}: no {note:?}");
        }
    }
    let refused = trace
        .frames
        .iter()
        .filter(|f| !f.rejected.is_empty())
        .count();
    assert_eq!(
        svg.count(|t| t.contains("  ✗ ")),
        refused,
        "{what}: ✗ labels"
    );
    // Each general's decision where its lane ends.
    for g in &report.generals {
        let end = svg.decision(g.id);
        match g.decision {
            None => assert!(g.traitor && end.starts_with("traitor"), "{what}: {end}"),
            Some(d) => {
                let want = format!("decides {}", d.as_str().to_uppercase());
                assert!(end.starts_with(&want), "{what}: general {}: {end}", g.id);
            }
        }
    }
    // The verdicts in the title.
    let verdict = |ok: bool| if ok { "holds" } else { "VIOLATED" };
    let ic1 = format!("IC1 (loyal lieutenants agree): {}", verdict(report.ic1));
    let ic2 = format!("IC2 (loyal commander obeyed): {}", verdict(report.ic2));
    assert!(svg.has(&ic1) && svg.has(&ic2), "{what}");
}

#[test]
fn om1_at_n4_shows_the_lies_the_decisions_and_the_tree() {
    let (report, trace, svg) = run(Protocol::Oral, 4, &[3], Strategy::Flip);
    check_common("OM(1) n=4", &report, &trace, &svg);
    assert!(report.ic1 && report.ic2);
    // The traitor lied to both loyal lieutenants in round 2.
    let lies: Vec<(u8, NodeId)> = trace
        .frames
        .iter()
        .filter(|f| f.lie())
        .map(|f| (f.round, f.to))
        .collect();
    assert_eq!(lies, [(2, NodeId(1)), (2, NodeId(2))]);
    assert_eq!(svg.count(|t| t == "R  LIE (it had A)"), 2);
    // Lieutenant 1's tree: the root with its majority, the two leaves,
    // and 0:3 (what the traitor relayed) in the lie's colour.
    assert!(svg.has("EIG tree of loyal lieutenant 1"));
    for path in ["0", "0:2", "0:3"] {
        assert_eq!(svg.count(|t| t == path), 1, "node {path}");
    }
    assert_eq!(svg.count(|t| t.starts_with("maj ")), 1, "one inner node");
    assert!(
        svg.has("maj A"),
        "the root's majority is lieutenant 1's ATTACK"
    );
    let got: Vec<(&str, &str)> = svg
        .texts
        .iter()
        .filter(|t| t.content.starts_with("got "))
        .map(|t| (t.content.as_str(), t.fill.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("got A", "#000000"),
            ("got A", "#000000"),
            ("got R", fill(FrameKind::Lie))
        ]
    );
}

#[test]
fn sm1_at_n4_shows_refused_chains_and_the_evidence() {
    // A forging lieutenant: every forged chain is refused with its reason.
    let (report, trace, svg) = run(Protocol::Signed, 4, &[3], Strategy::Forge);
    check_common("SM(1) n=4 forge", &report, &trace, &svg);
    assert!(trace.frames.iter().any(|f| !f.rejected.is_empty()));
    assert!(svg.has("✗ bad_signature"));
    assert!(!svg.has("EIG tree"), "SM has no EIG tree");
    // An equivocating commander: two lies, and every loyal lieutenant
    // holds the proof.
    let (report, trace, svg) = run(Protocol::Signed, 4, &[0], Strategy::Equivocate);
    check_common("SM(1) n=4 equivocate", &report, &trace, &svg);
    assert_eq!(trace.frames.iter().filter(|f| f.lie()).count(), 2);
    for id in 1..4 {
        let label = format!("general {id}");
        let lane = svg.texts.iter().find(|t| t.content == label).unwrap().y;
        let proof = svg.texts.iter().any(|t| {
            t.y > lane && t.y < lane + 30 && t.content == "holds proof: 0 signed ATTACK and RETREAT"
        });
        assert!(proof, "general {id} holds no proof in the picture");
    }
    assert!(svg.has("evidence: commander 0 signed both ATTACK and RETREAT"));
}

#[test]
fn om1_at_n3_shows_the_failure_and_sm1_at_n3_does_not_fail() {
    // Lamport's three generals: a lying lieutenant makes the loyal one
    // disobey a loyal commander (with the default RETREAT on a tie, OM(1)
    // at n = 3 fails as IC2; IC1 cannot fail with one loyal lieutenant).
    let (report, trace, svg) = run(Protocol::Oral, 3, &[2], Strategy::Flip);
    check_common("OM(1) n=3", &report, &trace, &svg);
    assert!(!report.ic2);
    assert!(svg.has("IC2 (loyal commander obeyed): VIOLATED"));
    assert!(svg.has("OM(1) needs n >= 3m+1 = 4; with n = 3 agreement can fail — shown here"));
    assert_eq!(svg.decision(NodeId(1)), "decides RETREAT");
    assert!(
        svg.has("maj R"),
        "lieutenant 1's root majority is the tie's RETREAT"
    );
    // The same lie signed: refused, and the loyal lieutenant obeys.
    let (report, trace, svg) = run(Protocol::Signed, 3, &[2], Strategy::Flip);
    check_common("SM(1) n=3", &report, &trace, &svg);
    assert!(report.ic1 && report.ic2);
    assert!(!svg.has("VIOLATED") && !svg.has("agreement can fail"));
    assert_eq!(svg.decision(NodeId(1)), "decides ATTACK");
    let refused = trace
        .frames
        .iter()
        .find(|f| !f.rejected.is_empty())
        .unwrap();
    assert_eq!((refused.from, refused.to), (NodeId(2), NodeId(1)));
    assert!(refused.lie());
}

#[test]
fn the_tree_is_the_node_cores_own_at_every_lieutenant() {
    // The tree rebuilt from the accepted frames decides what the node
    // decided, at each lieutenant, traitors' trees included.
    for (n, m, traitors, strategy) in [
        (4, 1, vec![3], Strategy::Flip),
        (7, 2, vec![0, 5], Strategy::Split),
        (5, 1, vec![2], Strategy::Forge),
        (6, 2, vec![1, 4], Strategy::Random),
    ] {
        let mut cfg = SimConfig::new(Protocol::Oral, n, m).traitors(traitors, strategy);
        cfg.record_frames = true;
        let (report, trace) = run_traced(&cfg).unwrap();
        for g in report
            .generals
            .iter()
            .filter(|g| !g.traitor && g.id != report.commander)
        {
            let (nodes, decision) = picture::eig_tree(&report, &trace, g.id).unwrap();
            assert_eq!(
                Some(decision),
                g.decision,
                "n={n} m={m} lieutenant {}",
                g.id
            );
            assert_eq!(nodes[0].majority, decision);
            let leaves = nodes.iter().filter(|e| e.path.len() == usize::from(m) + 1);
            assert!(leaves.clone().all(|e| e.majority == e.received));
            assert!(nodes.iter().all(|e| !e.path.contains(&(g.id.0 as u8))));
        }
    }
}

#[test]
fn the_cli_writes_the_picture_and_refuses_what_it_cannot_draw() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("om.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_generals"))
        .args([
            "simulate",
            "--protocol",
            "oral",
            "--nodes",
            "4",
            "--m",
            "1",
            "--traitors",
            "3",
            "--strategy",
            "flip",
            "--json",
            "--picture-general",
            "2",
            "--picture",
        ])
        .arg(&file)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: SimReport = serde_json::from_slice(&out.stdout).unwrap();
    let svg = parse(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(svg.heads.len() as u64, report.messages.frames);
    assert!(svg.has("EIG tree of loyal lieutenant 2"));
    assert_eq!(report.generals[1].decision, Some(Order::Attack));
    for (args, message) in [
        ("--nodes 20 --m 1", "stops at 16 generals"),
        (
            "--nodes 4 --m 1 --picture-general 0",
            "--picture-general 0 is not a lieutenant",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_generals"))
            .args(["simulate", "--protocol", "oral"])
            .args(args.split_whitespace())
            .arg("--picture")
            .arg(dir.path().join("refused.svg"))
            .env_clear()
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args}: {err}");
        assert!(err.contains(message), "{args}: {err}");
        assert!(!dir.path().join("refused.svg").exists());
    }
}

/// The pictures in docs/ are what the commands the README gives draw today
/// (the runs are seeded, so the SVG is the same byte for byte). Mutation
/// seen to fail it: any change to the drawing without regenerating them.
#[test]
fn the_checked_in_pictures_are_what_the_documented_commands_draw() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (args, file) in [
        (
            "--protocol oral --nodes 4 --m 1 --traitors 3 --strategy flip",
            "picture-om1-n4.svg",
        ),
        (
            "--protocol signed --nodes 4 --m 1 --traitors 0 --strategy equivocate",
            "picture-sm1-n4.svg",
        ),
        (
            "--protocol oral --nodes 3 --m 1 --traitors 2 --strategy flip",
            "picture-om1-n3.svg",
        ),
        (
            "--protocol signed --nodes 3 --m 1 --traitors 2 --strategy flip",
            "picture-sm1-n3.svg",
        ),
    ] {
        assert!(
            readme.contains(&format!("docs/{file}")),
            "README does not show {file}"
        );
        let fresh = dir.path().join(file);
        let out = Command::new(env!("CARGO_BIN_EXE_generals"))
            .arg("simulate")
            .args(args.split_whitespace())
            .arg("--picture")
            .arg(&fresh)
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some_and(|c| c == 0 || c == 3),
            "{args}"
        );
        let want = std::fs::read_to_string(root.join("docs").join(file)).unwrap();
        let got = std::fs::read_to_string(&fresh).unwrap();
        assert!(
            got == want,
            "docs/{file} is stale: regenerate it with `cargo run --release -- simulate {args} --picture docs/{file}`"
        );
    }
    for n4 in [
        "simulate --protocol oral --nodes 4 --m 1 --traitors 3 --strategy flip --picture docs/picture-om1-n4.svg",
        "simulate --protocol signed --nodes 4 --m 1 --traitors 0 --strategy equivocate --picture docs/picture-sm1-n4.svg",
    ] {
        assert!(readme.contains(n4), "README does not give the command {n4:?}");
    }
}
