//! `generals simulate`: one instance on the deterministic virtual network.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use generals_crypto::{NodeId, Order};
use generals_wire::Protocol;

use crate::picture;
use crate::protocol::adversary::Strategy;
use crate::report::Role;
use crate::sim::{run_traced, SimConfig, SimReport};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals simulate --protocol oral --nodes 7 --m 2 --traitors 0,5 --strategy split --value attack
  generals simulate --protocol signed --nodes 4 --m 1 --traitors 0 --strategy equivocate --json
  generals simulate --protocol oral --nodes 3 --m 1 --traitors 2 --strategy flip   # the 3m+1 bound at work
  generals simulate --protocol signed --nodes 7 --m 2 --traitors 5,6 --strategy precreate
  generals simulate --protocol oral --nodes 4 --m 1 --traitors 3 --strategy flip --picture om.svg

--strategy (long --help) says what each strategy does. \"Odd ids\" are the
receivers split, partial and hog single out, unless --targets names others.

Every general runs the node core the daemon runs (admission, budgets,
reports). precreate and hog act before the order: the traitors send their
frames first, the simulator lets everything they started play out (every
round deadline passes), and only then does the commander order. precreate
sends frames for the commander's next instance, with tickets it cannot sign;
hog fills every instance slot, tree budget and later-round slot it can reach
with instances of its own (and, as commander, then gives its real order to
the even ids only).

Exit status: 0 if IC1 and IC2 held, 3 if they did not, 1 on error.")]
pub struct SimulateArgs {
    /// oral (OM(m), needs n >= 3m+1) or signed (SM(m), needs n >= m+2).
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: Protocol,
    /// Number of generals, commander included.
    #[arg(long, short = 'n')]
    pub nodes: usize,
    /// Traitors the algorithm is sized for (OM(m) / SM(m)).
    #[arg(long)]
    pub m: u8,
    /// Comma-separated traitor ids, e.g. 0,5 (0 is the commander by default).
    #[arg(long, value_delimiter = ',')]
    pub traitors: Vec<u16>,
    /// What the traitors do (--help lists what each strategy does; the
    /// same names go in a config's [fault] strategy).
    #[arg(long, default_value = "flip", value_parser = strategy_parser())]
    pub strategy: Strategy,
    /// The commander's order: attack or retreat.
    #[arg(long, default_value = "attack")]
    pub value: Order,
    /// The commander's id.
    #[arg(long, default_value_t = 0)]
    pub commander: u16,
    /// Receivers that split/partial single out (default: odd ids).
    #[arg(long, value_delimiter = ',')]
    pub targets: Vec<u16>,
    /// Seed for link latencies and random strategies.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Draw the run as SVG: a lane per general, an arrow per frame, lies,
    /// refusals, decisions and evidence; for OM at n <= 7 also an EIG tree.
    #[arg(long, value_name = "FILE.svg")]
    pub picture: Option<PathBuf>,
    /// The lieutenant whose EIG tree the picture shows (default: the first
    /// loyal lieutenant).
    #[arg(long, value_name = "ID", requires = "picture")]
    pub picture_general: Option<u16>,
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    s.parse()
}

/// Every strategy name, with what it does as its help.
pub(crate) fn strategy_parser() -> impl clap::builder::TypedValueParser<Value = Strategy> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let values = Strategy::ALL.map(|s| PossibleValue::new(s.as_str()).help(s.description()));
    PossibleValuesParser::new(values).try_map(|name| name.parse::<Strategy>())
}

pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = validate(&args)?;
    cfg.record_frames = args.picture.is_some();
    let (report, trace) = run_traced(&cfg).context("the simulator refused this instance")?;
    if let Some(path) = &args.picture {
        let svg = picture::draw(&report, &trace, args.picture_general.map(NodeId))?;
        std::fs::write(path, svg)
            .with_context(|| format!("writing the picture to {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", render(&report));
        if let Some(path) = &args.picture {
            println!("picture:    {}", path.display());
        }
    }
    Ok(if report.ic1 && report.ic2 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_IC_VIOLATED)
    })
}

fn validate(a: &SimulateArgs) -> anyhow::Result<SimConfig> {
    if !(3..=128).contains(&a.nodes) {
        bail!("--nodes must be between 3 and 128 (got {})", a.nodes);
    }
    if usize::from(a.m) + 2 > a.nodes {
        bail!(
            "--m {} needs at least m+2 = {} generals; use a smaller --m or more --nodes",
            a.m,
            usize::from(a.m) + 2
        );
    }
    if a.picture.is_some() && a.nodes > picture::MAX_GENERALS {
        bail!(
            "--picture draws one lane per general and stops at {} generals (got --nodes {}); \
             use --json for larger runs",
            picture::MAX_GENERALS,
            a.nodes
        );
    }
    if let Some(g) = a.picture_general {
        if usize::from(g) >= a.nodes || g == a.commander {
            bail!(
                "--picture-general {g} is not a lieutenant (the commander is {}, ids are 0..{})",
                a.commander,
                a.nodes - 1
            );
        }
    }
    if usize::from(a.commander) >= a.nodes {
        bail!(
            "--commander {} is not a general (ids are 0..{})",
            a.commander,
            a.nodes - 1
        );
    }
    check_ids(a.traitors.iter().chain(&a.targets), a.nodes)?;
    if a.protocol == Protocol::Oral {
        let tree = crate::protocol::oral::logical_formula(a.nodes, a.m).unwrap_or(u64::MAX);
        if tree > 200_000_000 {
            bail!(
                "OM({}) at n = {} is {tree} messages; the simulator stops at 200 million",
                a.m,
                a.nodes
            );
        }
    }
    let mut cfg = SimConfig::new(a.protocol, a.nodes, a.m);
    cfg.commander = NodeId(a.commander);
    cfg.order = a.value;
    cfg.seed = a.seed;
    cfg.traitors = a
        .traitors
        .iter()
        .map(|&t| (NodeId(t), a.strategy))
        .collect::<BTreeMap<_, _>>();
    cfg.targets = a.targets.iter().copied().map(NodeId).collect();
    cfg.round_timeout = Duration::from_millis(100);
    Ok(cfg)
}

/// Refuses a traitor or target id that names no general of `nodes`.
pub(crate) fn check_ids<'a>(
    ids: impl IntoIterator<Item = &'a u16>,
    nodes: usize,
) -> anyhow::Result<()> {
    if let Some(id) = ids.into_iter().find(|&&id| usize::from(id) >= nodes) {
        bail!(
            "general {id} does not exist (ids are 0..{})",
            nodes.saturating_sub(1)
        );
    }
    Ok(())
}

/// The human-readable report.
pub fn render(r: &SimReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let name = match r.protocol {
        Protocol::Oral => "OM",
        Protocol::Signed => "SM",
    };
    let traitors = traitors_line(r);
    let _ = writeln!(
        s,
        "{name}({}) with {} generals; commander {} orders {}; traitors: {traitors}",
        r.m,
        r.n,
        r.commander,
        r.order.as_str().to_uppercase()
    );
    warn_bounds(&mut s, r);
    let _ = writeln!(s);
    let _ = writeln!(s, "  general  role        traitor  decision");
    for g in &r.generals {
        let decision = match (g.traitor, g.decision) {
            (true, _) => "-".to_owned(),
            (false, Some(d)) if g.role == Role::Commander => format!("{d} (its own order)"),
            (false, Some(d)) => d.to_string(),
            (false, None) => "none".to_owned(),
        };
        let _ = writeln!(
            s,
            "  {:<7}  {:<10}  {:<7}  {decision}",
            g.id.0,
            match g.role {
                Role::Commander => "commander",
                Role::Lieutenant => "lieutenant",
            },
            if g.traitor { "yes" } else { "no" }
        );
    }
    let _ = writeln!(s);
    let holds = |b: bool| if b { "holds" } else { "VIOLATED" };
    let _ = writeln!(s, "IC1 (loyal lieutenants agree):  {}", holds(r.ic1));
    let ic2_note = if r.traitors.contains(&r.commander) {
        " (vacuous: the commander is a traitor)"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "IC2 (loyal commander obeyed):   {}{ic2_note}",
        holds(r.ic2)
    );
    let _ = writeln!(s, "rounds:     {}", r.rounds);
    let formula = match r.protocol {
        Protocol::Oral => "sum_{k=1..m+1} (n-1)(n-2)...(n-k)",
        Protocol::Signed => "(n-1)^2 with a loyal commander",
    };
    let m = &r.messages;
    let _ = writeln!(
        s,
        "messages:   {} logical (formula {formula} = {}), {} frames, {} bytes",
        m.logical, m.formula, m.frames, m.bytes
    );
    let _ = writeln!(
        s,
        "signatures: {} made, {} verified",
        m.signatures_made, m.signatures_verified
    );
    if r.evidence.is_empty() {
        let _ = writeln!(s, "evidence:   none");
    }
    for e in &r.evidence {
        let holders: Vec<String> = e.holders.iter().map(|h| h.to_string()).collect();
        let _ = writeln!(
            s,
            "evidence:   commander {} signed both ATTACK and RETREAT in instance {} (proof {}, held by {})",
            e.commander,
            e.instance,
            if e.verified { "verified with its public key" } else { "DOES NOT VERIFY" },
            holders.join(", ")
        );
    }
    if !r.rejections.is_empty() {
        let list: Vec<String> = r
            .rejections
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        let _ = writeln!(s, "rejected:   {}", list.join(", "));
    }
    s
}

/// "3, 5 (split)" when every traitor runs one known strategy, else each
/// traitor with its own: "0 (flip), 5 (split)". A daemon learns that a peer
/// is a traitor from its signed report, but not its strategy: such a
/// traitor is shown by its id alone.
fn traitors_line(r: &SimReport) -> String {
    if r.traitors.is_empty() {
        return "none".to_owned();
    }
    let strategy = |t: &NodeId| r.strategy.get(&t.to_string());
    let ids: Vec<String> = r.traitors.iter().map(|t| t.to_string()).collect();
    let kinds: std::collections::BTreeSet<&String> =
        r.traitors.iter().filter_map(strategy).collect();
    match (kinds.first(), kinds.len()) {
        (Some(kind), 1) if r.traitors.iter().all(|t| strategy(t).is_some()) => {
            format!("{} ({kind})", ids.join(", "))
        }
        _ => r
            .traitors
            .iter()
            .map(|t| match strategy(t) {
                Some(kind) => format!("{t} ({kind})"),
                None => t.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn warn_bounds(s: &mut String, r: &SimReport) {
    use std::fmt::Write;
    if r.protocol == Protocol::Oral && r.n < 3 * usize::from(r.m) + 1 {
        let _ = writeln!(
            s,
            "note: OM({}) needs n >= 3m+1 = {} generals; with {} the guarantees do not hold",
            r.m,
            3 * usize::from(r.m) + 1,
            r.n
        );
    }
    if r.traitors.len() > usize::from(r.m) {
        let _ = writeln!(
            s,
            "note: {} traitors is more than m = {}; the guarantees do not hold",
            r.traitors.len(),
            r.m
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_line(traitors: &[(u16, Option<&str>)]) -> String {
        let mut r = crate::sim::run(&SimConfig::new(Protocol::Signed, 7, 2)).unwrap();
        r.traitors = traitors.iter().map(|&(t, _)| NodeId(t)).collect();
        r.strategy = traitors
            .iter()
            .filter_map(|&(t, s)| s.map(|s| (t.to_string(), s.to_owned())))
            .collect();
        render(&r).lines().next().unwrap_or_default().to_owned()
    }

    #[test]
    fn each_traitor_is_shown_with_the_strategy_known_for_it() {
        let head = "SM(2) with 7 generals; commander 0 orders ATTACK; traitors: ";
        assert_eq!(first_line(&[]), format!("{head}none"));
        assert_eq!(
            first_line(&[(3, Some("split")), (5, Some("split"))]),
            format!("{head}3, 5 (split)")
        );
        assert_eq!(
            first_line(&[(0, Some("flip")), (5, Some("split"))]),
            format!("{head}0 (flip), 5 (split)")
        );
        // A daemon knows a peer is a traitor from its report, not how.
        assert_eq!(first_line(&[(3, None)]), format!("{head}3"));
        assert_eq!(
            first_line(&[(3, Some("silent")), (5, None)]),
            format!("{head}3 (silent), 5")
        );
    }
}
