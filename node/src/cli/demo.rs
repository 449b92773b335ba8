//! `generals demo`: the README's main command. Runs the four scenarios of
//! the tour and prints decisions and the oral-versus-signed cost table.

use std::process::ExitCode;

use clap::Args;
use generals_crypto::{NodeId, Order};
use generals_wire::Protocol;

use crate::protocol::adversary::Strategy;
use crate::sim::{run as run_sim, SimConfig, SimReport};

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  generals demo")]
pub struct DemoArgs {
    /// Print one JSON object per scenario instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// A scenario of the tour: a name, and the run.
pub struct Scenario {
    pub title: &'static str,
    pub protocol: Protocol,
    pub m: u8,
    pub traitors: Vec<(u16, Strategy)>,
}

/// The four scenarios, all at n = 7, m = 2, commander 0 ordering ATTACK.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            title: "OM(2), loyal commander, lieutenants 3 and 5 are traitors (split)",
            protocol: Protocol::Oral,
            m: 2,
            traitors: vec![(3, Strategy::Split), (5, Strategy::Split)],
        },
        Scenario {
            title: "OM(2), the commander is a traitor (split)",
            protocol: Protocol::Oral,
            m: 2,
            traitors: vec![(0, Strategy::Split)],
        },
        Scenario {
            title: "SM(2), the commander equivocates",
            protocol: Protocol::Signed,
            m: 2,
            traitors: vec![(0, Strategy::Equivocate)],
        },
        Scenario {
            title: "SM(2), loyal commander",
            protocol: Protocol::Signed,
            m: 2,
            traitors: vec![],
        },
    ]
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut all_held = true;
    let mut rows = Vec::new();
    for s in scenarios() {
        let mut cfg = SimConfig::new(s.protocol, 7, s.m);
        cfg.order = Order::Attack;
        cfg.traitors = s
            .traitors
            .iter()
            .map(|&(id, st)| (NodeId(id), st))
            .collect();
        let r = run_sim(&cfg)?;
        all_held &= r.ic1 && r.ic2;
        if args.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!("== {}\n", s.title);
            println!("{}", super::simulate::render(&r));
        }
        rows.push((s.title, r));
    }
    if !args.json {
        print!("{}", cost_table(&rows));
    }
    Ok(if all_held {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_IC_VIOLATED)
    })
}

/// Oral against signed, side by side.
pub fn cost_table(rows: &[(&str, SimReport)]) -> String {
    use std::fmt::Write;
    let mut s = String::from("== What each run cost\n\n");
    let _ = writeln!(
        s,
        "  {:<4} {:>3} {:>2} {:>9} {:>9} {:>7} {:>8} {:>6} {:>8}",
        "", "n", "m", "logical", "formula", "frames", "bytes", "signed", "verified"
    );
    for (_, r) in rows {
        let name = match r.protocol {
            Protocol::Oral => "OM",
            Protocol::Signed => "SM",
        };
        let m = &r.messages;
        let _ = writeln!(
            s,
            "  {:<4} {:>3} {:>2} {:>9} {:>9} {:>7} {:>8} {:>6} {:>8}",
            name,
            r.n,
            r.m,
            m.logical,
            m.formula,
            m.frames,
            m.bytes,
            m.signatures_made,
            m.signatures_verified
        );
    }
    s
}
