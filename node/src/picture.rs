//! A picture of one simulated instance, for teaching: a space-time diagram
//! with one lane per general and one arrow per round frame, round by round;
//! the traitors' lies, rejected frames with their reasons, what traitors
//! withheld, each general's decision and the evidence; and for OM at
//! n <= 7 one lieutenant's EIG tree, each node with the value it received
//! and its majority.
//!
//! Drawn with plotters' SVG backend on pixel coordinates. Each arrow is a
//! line and one filled triangle, and nothing else is a triangle, so the SVG
//! holds one `<polygon>` per frame.

use std::collections::BTreeMap;

use anyhow::bail;
use generals_crypto::{NodeId, Order};
use generals_wire::{Protocol, RoundBody};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::protocol::oral::OralTree;
use crate::report::{InstanceReport, Role};
use crate::sim::{FrameRecord, Trace};

/// One lane per general stays legible up to here.
pub const MAX_GENERALS: usize = 16;
/// The EIG tree panel is drawn for OM up to here (at most 120 leaves).
pub const MAX_EIG_GENERALS: usize = 7;

const WIDTH: i32 = 1400;
const FONT: &str = "sans-serif";
/// Where the lanes start (after the lane labels) and the decisions begin.
const LANES_X: i32 = 190;
const DECISIONS_W: i32 = 330;
const LOYAL: RGBColor = RGBColor(30, 90, 200);
const LIE: RGBColor = RGBColor(200, 40, 40);
const REJECTED: RGBColor = RGBColor(230, 130, 0);
const EMPTY: RGBColor = RGBColor(175, 175, 175);
const MUTED: RGBColor = RGBColor(110, 110, 110);
const GOOD: RGBColor = RGBColor(20, 130, 60);
const NOTE_H: i32 = 18;
const EIG_ROW_H: i32 = 18;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

pub(crate) fn plot_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the SVG: {e:?}")
}

/// How a frame is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A value a loyal core built (a traitor's honest relay included).
    Loyal,
    /// Nothing to relay this round.
    Empty,
    /// A traitor's frame that differs from what its loyal core built.
    Lie,
    /// The receiver refused the frame or a chain in it.
    Rejected,
}

impl FrameKind {
    pub fn of(f: &FrameRecord) -> FrameKind {
        if !f.rejected.is_empty() {
            FrameKind::Rejected
        } else if f.lie() {
            FrameKind::Lie
        } else if f.body == RoundBody::Empty {
            FrameKind::Empty
        } else {
            FrameKind::Loyal
        }
    }

    fn color(self) -> &'static RGBColor {
        match self {
            FrameKind::Loyal => &LOYAL,
            FrameKind::Empty => &EMPTY,
            FrameKind::Lie => &LIE,
            FrameKind::Rejected => &REJECTED,
        }
    }
}

/// One node of a lieutenant's EIG tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EigNode {
    /// Commander first: [0], [0, 1], [0, 1, 2].
    pub path: Vec<u8>,
    /// What the lieutenant stored (RETREAT if nothing usable came).
    pub received: Order,
    /// The recursive majority at this node (a leaf's is what it received).
    pub majority: Order,
    /// The value came in a traitor's frame that lied.
    pub lied: bool,
}

/// Lieutenant `me`'s EIG tree in depth-first order, rebuilt from the frames
/// it accepted with the node core's own [`OralTree`], with its decision.
/// None for SM, for the commander, or for a spec the tree refuses.
pub fn eig_tree(
    report: &InstanceReport,
    trace: &Trace,
    me: NodeId,
) -> Option<(Vec<EigNode>, Order)> {
    if report.protocol != Protocol::Oral || me == report.commander {
        return None;
    }
    let (n, m, c) = (report.n, report.m, report.commander.0 as u8);
    let mut tree = OralTree::new(n, m, c, me.0 as u8).ok()?;
    let mut lied = BTreeMap::new();
    let accepted = trace
        .frames
        .iter()
        .filter(|f| f.to == me && f.delivered_us.is_some() && f.rejected.is_empty());
    for f in accepted {
        if let RoundBody::Oral(bits) = &f.body {
            // The node stored it without complaint, so this store succeeds.
            if tree.store(f.round, f.from.0 as u8, bits).is_ok() {
                lied.insert((f.round, f.from.0 as u8), f.lie());
            }
        }
    }
    let mut paths = Vec::new();
    depth_first(n, usize::from(m) + 1, me.0 as u8, &mut vec![c], &mut paths);
    let received: Vec<Order> = paths
        .iter()
        .map(|p| tree.value(p).unwrap_or_default())
        .collect();
    let decision = tree.decide();
    let nodes = paths
        .into_iter()
        .zip(received)
        .map(|(path, received)| EigNode {
            majority: tree.value(&path).unwrap_or_default(),
            lied: path
                .last()
                .is_some_and(|&s| lied.get(&(path.len() as u8, s)) == Some(&true)),
            path,
            received,
        })
        .collect();
    Some((nodes, decision))
}

fn depth_first(n: usize, depth: usize, me: u8, path: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
    out.push(path.clone());
    if path.len() == depth {
        return;
    }
    for j in 0..n as u8 {
        if j == me || path.contains(&j) {
            continue;
        }
        path.push(j);
        depth_first(n, depth, me, path, out);
        path.pop();
    }
}

/// The lieutenant whose tree is drawn unless one is asked for: the first
/// loyal lieutenant, else the first lieutenant.
pub fn default_eig_general(report: &InstanceReport) -> Option<NodeId> {
    let lieutenants = || {
        report
            .generals
            .iter()
            .filter(|g| g.role == Role::Lieutenant)
    };
    lieutenants()
        .find(|g| !g.traitor)
        .or_else(|| lieutenants().next())
        .map(|g| g.id)
}

/// The SVG picture of a run made with `SimConfig::record_frames`. `eig`
/// names the lieutenant whose EIG tree is drawn (OM, n <= 7); by default
/// the first loyal lieutenant's.
pub fn draw(report: &InstanceReport, trace: &Trace, eig: Option<NodeId>) -> anyhow::Result<String> {
    let n = report.n;
    if n > MAX_GENERALS {
        bail!("a picture draws one lane per general and stops at {MAX_GENERALS} generals (this run has {n}); use --json for larger runs");
    }
    if let Some(g) = eig {
        if usize::from(g.0) >= n || g == report.commander {
            bail!(
                "--picture-general {g} is not a lieutenant (the commander is {}, ids are 0..{})",
                report.commander,
                n - 1
            );
        }
    }
    let tree = match (report.protocol, n <= MAX_EIG_GENERALS) {
        (Protocol::Oral, true) => eig
            .or_else(|| default_eig_general(report))
            .and_then(|me| Some((me, eig_tree(report, trace, me)?))),
        _ => None,
    };
    let layout = Layout::new(report, trace);
    let notes = notes(report, trace);
    let eig_h = tree.as_ref().map_or(0, |(_, (nodes, _))| {
        let leaves = nodes
            .iter()
            .filter(|e| e.path.len() == usize::from(report.m) + 1);
        70 + leaves.count() as i32 * EIG_ROW_H
    });
    let notes_top = layout.bottom() + 50;
    let eig_top = notes_top + NOTE_H * notes.len() as i32 + 20;
    let height = eig_top + eig_h + 10;
    let mut svg = String::new();
    {
        let area =
            SVGBackend::with_string(&mut svg, (WIDTH as u32, height as u32)).into_drawing_area();
        area.fill(&WHITE).map_err(plot_error)?;
        header(&area, report, &layout)?;
        lanes(&area, report, &layout)?;
        for f in &trace.frames {
            frame(&area, &layout, f)?;
        }
        // Labels after every arrow, so no arrow crosses a label.
        for f in &trace.frames {
            frame_caption(&area, &layout, trace, f)?;
        }
        for w in &trace.withheld {
            let from = (layout.send_x(w.round, w.from), layout.lane(w.from));
            let aim = (layout.deliver_x(w.round, w.from), layout.lane(w.to));
            let stub = (from.0 + (aim.0 - from.0) / 3, from.1 + (aim.1 - from.1) / 3);
            area.draw(&DashedPathElement::new(
                vec![from, stub],
                4,
                4,
                MUTED.stroke_width(2),
            ))
            .map_err(plot_error)?;
            text(
                &area,
                "withheld",
                (stub.0 + 4, stub.1),
                small(&MUTED, HPos::Left),
            )?;
        }
        decisions(&area, report, &layout)?;
        legend(&area, layout.bottom() + 24)?;
        for (i, (line, color)) in notes.iter().enumerate() {
            let at = (20, notes_top + NOTE_H * i as i32);
            text(&area, line, at, style(13, color, HPos::Left))?;
        }
        if let Some((me, (nodes, decision))) = &tree {
            eig_panel(&area, report, *me, nodes, *decision, eig_top)?;
        }
        area.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Where lanes and rounds are, in pixels.
struct Layout {
    n: usize,
    rounds: u8,
    lane_h: i32,
    top: i32,
    colw: i32,
    decided_us: BTreeMap<NodeId, u64>,
}

impl Layout {
    fn new(report: &InstanceReport, trace: &Trace) -> Layout {
        let n = report.n;
        let rounds = report.m.saturating_add(1);
        let notes = i32::from(bound_note(report).is_some()) * 22;
        Layout {
            n,
            rounds,
            lane_h: (480 / n.max(1) as i32).clamp(44, 90),
            top: 96 + notes,
            colw: (WIDTH - LANES_X - DECISIONS_W) / i32::from(rounds.max(1)),
            decided_us: trace.decided_us.clone(),
        }
    }

    fn lane(&self, id: NodeId) -> i32 {
        self.top + 20 + self.lane_h / 2 + i32::from(id.0) * self.lane_h
    }

    fn bottom(&self) -> i32 {
        self.top + 20 + self.lane_h * self.n as i32
    }

    fn column(&self, round: u8) -> i32 {
        LANES_X + self.colw * i32::from(round.clamp(1, self.rounds) - 1)
    }

    /// Where a frame's arrow starts and ends.
    fn arrow(&self, f: &FrameRecord) -> ((i32, i32), (i32, i32)) {
        (
            (self.send_x(f.round, f.from), self.lane(f.from)),
            (self.arrival_x(f), self.lane(f.to)),
        )
    }

    fn decisions_x(&self) -> i32 {
        LANES_X + self.colw * i32::from(self.rounds)
    }

    /// Senders are staggered within a round so their arrows do not overlap.
    fn send_x(&self, round: u8, from: NodeId) -> i32 {
        let step = (self.colw * 30 / 100) / (self.n as i32 - 1).max(1);
        self.column(round) + self.colw * 5 / 100 + step * i32::from(from.0)
    }

    fn deliver_x(&self, round: u8, from: NodeId) -> i32 {
        self.send_x(round, from) + self.colw * 55 / 100
    }

    /// A frame that came after its receiver decided (or never came) points
    /// into the decision column instead of its round.
    fn arrival_x(&self, f: &FrameRecord) -> i32 {
        let decided = self.decided_us.get(&f.to);
        let late = match (f.delivered_us, decided) {
            (None, _) => true,
            (Some(t), Some(&d)) => t > d,
            (Some(_), None) => false,
        };
        if late || f.rejected.iter().any(|(kind, _)| kind == "past_round") {
            self.decisions_x() - 14
        } else {
            self.deliver_x(f.round, f.from)
        }
    }
}

fn style(size: u32, color: &'static RGBColor, anchor: HPos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font())
        .color(color)
        .pos(Pos::new(anchor, VPos::Center))
}

fn bold(size: u32, color: &'static RGBColor, anchor: HPos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font().style(FontStyle::Bold))
        .color(color)
        .pos(Pos::new(anchor, VPos::Center))
}

fn small(color: &'static RGBColor, anchor: HPos) -> TextStyle<'static> {
    style(12, color, anchor)
}

fn text(area: &Area, s: &str, at: (i32, i32), style: TextStyle) -> anyhow::Result<()> {
    area.draw(&Text::new(s.to_owned(), at, style))
        .map_err(plot_error)
}

fn line(area: &Area, points: Vec<(i32, i32)>, style: ShapeStyle) -> anyhow::Result<()> {
    area.draw(&PathElement::new(points, style))
        .map_err(plot_error)
}

fn letter(o: Order) -> char {
    if o.is_attack() {
        'A'
    } else {
        'R'
    }
}

fn upper(o: Order) -> String {
    o.as_str().to_uppercase()
}

/// A frame's contents in Lamport's notation: OM values as letters, SM
/// chains as v:c:j1:…
pub fn summary(body: &RoundBody) -> String {
    match body {
        RoundBody::Empty => "nothing".to_owned(),
        RoundBody::Oral(bits) => {
            let all: String = (0..bits.len() as usize)
                .map(|i| letter(Order::from_bit(bits.get(i))))
                .collect();
            if all.len() > 16 {
                format!("{}… ({} values)", &all[..12], all.len())
            } else {
                all
            }
        }
        RoundBody::Signed(chains) => chains
            .iter()
            .map(|c| {
                let signers: Vec<String> = c.links.iter().map(|l| l.signer.to_string()).collect();
                format!("{}:{}", letter(c.order), signers.join(":"))
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The label an arrow carries: its contents, "LIE" with what the loyal
/// core had, and "✗" with why the receiver refused it.
pub fn frame_label(f: &FrameRecord) -> Option<String> {
    let mut label = summary(&f.body);
    if let Some(honest) = f.honest.as_ref().filter(|_| f.lie()) {
        // Long contents are spelled out in the notes under the diagram.
        let had = summary(honest);
        label = if had.len() <= 6 {
            format!("{label}  LIE (it had {had})")
        } else {
            format!("{label}  LIE")
        };
    } else if f.body == RoundBody::Empty && f.rejected.is_empty() {
        return None;
    }
    if !f.rejected.is_empty() {
        let kinds: Vec<&str> = f.rejected.iter().map(|(k, _)| k.as_str()).collect();
        label = format!("{label}  ✗ {}", kinds.join(", "));
    }
    Some(label)
}

fn frame(area: &Area, layout: &Layout, f: &FrameRecord) -> anyhow::Result<()> {
    let kind = FrameKind::of(f);
    let color = kind.color();
    let (from, to) = layout.arrow(f);
    let width = if kind == FrameKind::Empty { 1 } else { 2 };
    let head = arrow_head(from, to);
    if f.delivered_us.is_some() {
        line(area, vec![from, head[1]], color.stroke_width(width))?;
    } else {
        area.draw(&DashedPathElement::new(
            vec![from, head[1]],
            5,
            4,
            color.stroke_width(width),
        ))
        .map_err(plot_error)?;
    }
    area.draw(&Polygon::new(
        vec![head[0], head[2], head[3]],
        color.filled(),
    ))
    .map_err(plot_error)
}

fn frame_caption(
    area: &Area,
    layout: &Layout,
    trace: &Trace,
    f: &FrameRecord,
) -> anyhow::Result<()> {
    let kind = FrameKind::of(f);
    let (from, to) = layout.arrow(f);
    // A crowded round labels only its lies and refusals; the EIG tree
    // shows the values.
    let crowded = trace.frames.iter().filter(|g| g.round == f.round).count() > 12;
    let label =
        frame_label(f).filter(|_| !crowded || matches!(kind, FrameKind::Lie | FrameKind::Rejected));
    let Some(label) = label else {
        return Ok(());
    };
    // Near the head, so labels of one sender's fan stay apart, and at two
    // depths by sender, so crossing fans do not stack their labels.
    let t = if crowded {
        0.8
    } else {
        0.62 + 0.12 * f64::from(f.from.0 % 2)
    };
    let at = (
        from.0 + ((to.0 - from.0) as f64 * t) as i32,
        from.1 + ((to.1 - from.1) as f64 * t) as i32 - 8,
    );
    let half = 7 * label.chars().count() as i32 / 2 + 3;
    // Kept left of the decision column.
    let at = (at.0.min(layout.decisions_x() - half - 4), at.1);
    let backdrop = [(at.0 - half, at.1 - 8), (at.0 + half, at.1 + 8)];
    area.draw(&Rectangle::new(backdrop, WHITE.mix(0.85).filled()))
        .map_err(plot_error)?;
    text(area, &label, at, bold(12, kind.color(), HPos::Center))
}

/// [tip, base centre, base left, base right] of the triangle at `to`.
fn arrow_head(from: (i32, i32), to: (i32, i32)) -> [(i32, i32); 4] {
    let (dx, dy) = (f64::from(to.0 - from.0), f64::from(to.1 - from.1));
    let len = dx.hypot(dy).max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (bx, by) = (f64::from(to.0) - 11.0 * ux, f64::from(to.1) - 11.0 * uy);
    let p = |x: f64, y: f64| (x.round() as i32, y.round() as i32);
    [
        to,
        p(bx, by),
        p(bx - 4.5 * uy, by + 4.5 * ux),
        p(bx + 4.5 * uy, by - 4.5 * ux),
    ]
}

fn protocol_name(report: &InstanceReport) -> String {
    let name = match report.protocol {
        Protocol::Oral => "OM",
        Protocol::Signed => "SM",
    };
    format!("{name}({})", report.m)
}

/// Why the guarantees may not hold here, if they may not.
fn bound_note(report: &InstanceReport) -> Option<String> {
    let m = usize::from(report.m);
    if report.protocol == Protocol::Oral && report.n < 3 * m + 1 {
        return Some(format!(
            "OM({m}) needs n >= 3m+1 = {}; with n = {} agreement can fail — shown here",
            3 * m + 1,
            report.n
        ));
    }
    (report.traitors.len() > m).then(|| {
        format!(
            "{} traitors is more than m = {m}: the guarantees do not hold",
            report.traitors.len()
        )
    })
}

fn traitor_name(report: &InstanceReport, id: NodeId) -> String {
    match report.strategy.get(&id.to_string()) {
        Some(s) => format!("{id} ({s})"),
        None => id.to_string(),
    }
}

fn header(area: &Area, report: &InstanceReport, layout: &Layout) -> anyhow::Result<()> {
    let traitors: Vec<String> = report
        .traitors
        .iter()
        .map(|&t| traitor_name(report, t))
        .collect();
    let traitors = if traitors.is_empty() {
        "none".to_owned()
    } else {
        traitors.join(", ")
    };
    let title = format!(
        "{} with n = {}: commander {} orders {}; traitors: {traitors}",
        protocol_name(report),
        report.n,
        report.commander,
        upper(report.order)
    );
    text(area, &title, (20, 22), bold(20, &BLACK, HPos::Left))?;
    let verdict = |ok: bool| if ok { "holds" } else { "VIOLATED" };
    let ic2_note = if report.traitors.contains(&report.commander) {
        " (vacuous: the commander is a traitor)"
    } else {
        ""
    };
    let verdicts = [
        (
            format!("IC1 (loyal lieutenants agree): {}", verdict(report.ic1)),
            report.ic1,
        ),
        (
            format!(
                "IC2 (loyal commander obeyed): {}{ic2_note}",
                verdict(report.ic2)
            ),
            report.ic2,
        ),
    ];
    for (i, (line, ok)) in verdicts.iter().enumerate() {
        let color = if *ok { &GOOD } else { &LIE };
        text(
            area,
            line,
            (20 + 440 * i as i32, 52),
            bold(16, color, HPos::Left),
        )?;
    }
    if let Some(note) = bound_note(report) {
        text(area, &note, (20, 76), bold(14, &LIE, HPos::Left))?;
    }
    for r in 1..=layout.rounds {
        let x = layout.column(r);
        text(
            area,
            &format!("round {r}"),
            (x + layout.colw / 2, layout.top),
            bold(14, &MUTED, HPos::Center),
        )?;
        area.draw(&DashedPathElement::new(
            vec![(x, layout.top + 12), (x, layout.bottom())],
            3,
            5,
            MUTED.mix(0.5).stroke_width(1),
        ))
        .map_err(plot_error)?;
    }
    let x = layout.decisions_x();
    text(
        area,
        "decision",
        (x + 20, layout.top),
        bold(14, &MUTED, HPos::Left),
    )?;
    let time = (x - 8, layout.bottom() + 2);
    text(area, "time →", time, small(&MUTED, HPos::Right))?;
    line(
        area,
        vec![(x, layout.top + 12), (x, layout.bottom())],
        MUTED.mix(0.5).stroke_width(1),
    )
}

fn lanes(area: &Area, report: &InstanceReport, layout: &Layout) -> anyhow::Result<()> {
    for g in &report.generals {
        let y = layout.lane(g.id);
        if g.traitor {
            let band = [
                (LANES_X - 180, y - layout.lane_h / 2 + 3),
                (WIDTH - 10, y + layout.lane_h / 2 - 3),
            ];
            area.draw(&Rectangle::new(band, LIE.mix(0.06).filled()))
                .map_err(plot_error)?;
        }
        line(
            area,
            vec![(LANES_X - 10, y), (layout.decisions_x(), y)],
            BLACK.mix(0.35).stroke_width(1),
        )?;
        let color = if g.traitor { &LIE } else { &BLACK };
        text(
            area,
            &format!("general {}", g.id),
            (14, y - 8),
            bold(15, color, HPos::Left),
        )?;
        let role = match (g.role, g.traitor) {
            (Role::Commander, false) => "commander".to_owned(),
            (Role::Lieutenant, false) => "lieutenant".to_owned(),
            (role, true) => {
                let strategy = report.strategy.get(&g.id.to_string());
                let role = if role == Role::Commander {
                    "commander"
                } else {
                    "lieutenant"
                };
                match strategy {
                    Some(s) => format!("{role}, traitor: {s}"),
                    None => format!("{role}, traitor"),
                }
            }
        };
        text(area, &role, (14, y + 10), small(color, HPos::Left))?;
    }
    Ok(())
}

/// The text at the end of general `g`'s lane.
pub fn decision_label(report: &InstanceReport, id: NodeId) -> Option<String> {
    let g = report.generals.iter().find(|g| g.id == id)?;
    Some(match (g.traitor, g.decision) {
        (true, _) => "traitor: its decision does not count".to_owned(),
        (false, None) => "no decision".to_owned(),
        (false, Some(d)) if g.role == Role::Commander => {
            format!("decides {} (its own order)", upper(d))
        }
        (false, Some(d)) => format!("decides {}", upper(d)),
    })
}

fn decisions(area: &Area, report: &InstanceReport, layout: &Layout) -> anyhow::Result<()> {
    let x = layout.decisions_x() + 20;
    for g in &report.generals {
        let y = layout.lane(g.id);
        let Some(label) = decision_label(report, g.id) else {
            continue;
        };
        let color = match (g.traitor, g.decision) {
            (true, _) => &LIE,
            (false, Some(d))
                if d != report.order && !report.traitors.contains(&report.commander) =>
            {
                &LIE
            }
            _ => &BLACK,
        };
        text(area, &label, (x, y - 8), bold(15, color, HPos::Left))?;
        let holds = report.evidence.iter().find(|e| e.holders.contains(&g.id));
        if let Some(e) = holds {
            let proof = format!(
                "holds proof: {} signed ATTACK and RETREAT{}",
                e.commander,
                if e.verified { "" } else { " (does NOT verify)" }
            );
            text(area, &proof, (x, y + 10), small(&LIE, HPos::Left))?;
        }
    }
    Ok(())
}

fn legend(area: &Area, y: i32) -> anyhow::Result<()> {
    let items = [
        (LOYAL, "loyal frame (its values)"),
        (EMPTY, "empty frame (nothing to relay)"),
        (LIE, "traitor's LIE (and what its loyal core had)"),
        (REJECTED, "refused by the receiver (✗ reason)"),
        (MUTED, "withheld by a traitor"),
    ];
    let mut x = 20;
    for (color, label) in items {
        if color == MUTED {
            area.draw(&DashedPathElement::new(
                vec![(x, y), (x + 28, y)],
                4,
                4,
                color.stroke_width(2),
            ))
            .map_err(plot_error)?;
        } else {
            line(area, vec![(x, y), (x + 28, y)], color.stroke_width(3))?;
        }
        text(area, label, (x + 36, y), small(&BLACK, HPos::Left))?;
        x += 36 + 6 * label.chars().count() as i32 + 30;
    }
    Ok(())
}

/// The lines under the diagram: every rejection with its reason, what
/// traitors withheld, and the evidence.
fn notes(report: &InstanceReport, trace: &Trace) -> Vec<(String, &'static RGBColor)> {
    let mut out = Vec::new();
    for f in trace.frames.iter().filter(|f| f.lie()) {
        let had = f.honest.as_ref().map(summary).unwrap_or_default();
        out.push((
            format!(
                "LIE: round {}, {} → {} sent {}; its loyal core had {had}",
                f.round,
                f.from,
                f.to,
                summary(&f.body)
            ),
            &LIE,
        ));
    }
    for f in &trace.frames {
        for (kind, reason) in &f.rejected {
            out.push((
                format!(
                    "✗ round {}, {} → {}: refused ({kind}): {reason}",
                    f.round, f.from, f.to
                ),
                &REJECTED,
            ));
        }
    }
    for w in &trace.withheld {
        out.push((
            format!(
                "withheld: round {}, {} → {} (its loyal core would have sent {})",
                w.round,
                w.from,
                w.to,
                summary(&w.honest)
            ),
            &MUTED,
        ));
    }
    for e in &report.evidence {
        let holders: Vec<String> = e.holders.iter().map(|h| h.to_string()).collect();
        out.push((
            format!(
                "evidence: commander {} signed both ATTACK and RETREAT in instance {} (proof {}; held by {})",
                e.commander,
                e.instance,
                if e.verified { "verified with its public key" } else { "DOES NOT VERIFY" },
                holders.join(", ")
            ),
            &LIE,
        ));
    }
    const MAX_NOTES: usize = 24;
    if out.len() > MAX_NOTES {
        let more = out.len() - (MAX_NOTES - 1);
        out.truncate(MAX_NOTES - 1);
        out.push((format!("… and {more} more"), &MUTED));
    }
    out
}

fn path_name(path: &[u8]) -> String {
    path.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(":")
}

fn eig_panel(
    area: &Area,
    report: &InstanceReport,
    me: NodeId,
    nodes: &[EigNode],
    decision: Order,
    top: i32,
) -> anyhow::Result<()> {
    let depth = usize::from(report.m) + 1;
    let traitor = if report.traitors.contains(&me) {
        "traitor "
    } else {
        "loyal "
    };
    let title = format!(
        "EIG tree of {traitor}lieutenant {me}: each path, the value it received, and its majority (the root's is its decision: {})",
        upper(decision)
    );
    text(area, &title, (20, top + 10), bold(16, &BLACK, HPos::Left))?;
    text(
        area,
        "majority = strict majority of the node's own value and its children's majorities, else RETREAT; a leaf's is what it received; red: received in a traitor's lie",
        (20, top + 32),
        small(&MUTED, HPos::Left),
    )?;
    // Wide enough for the longest path, "got A" and "maj A".
    let box_w = 7 * (2 * depth as i32 - 1) + 110;
    let colw = ((WIDTH - 40) / depth as i32).min(box_w + 60);
    let rows_top = top + 56;
    // Leaves take one row each, in depth-first order; a parent sits
    // halfway between its first and last child.
    let mut y = vec![0i32; nodes.len()];
    let mut row = 0;
    for (i, node) in nodes.iter().enumerate() {
        if node.path.len() == depth {
            y[i] = rows_top + row * EIG_ROW_H + EIG_ROW_H / 2;
            row += 1;
        }
    }
    for i in (0..nodes.len()).rev() {
        let len = nodes[i].path.len();
        if len == depth {
            continue;
        }
        let children: Vec<usize> = (i + 1..nodes.len())
            .take_while(|&k| nodes[k].path.len() > len)
            .filter(|&k| nodes[k].path.len() == len + 1)
            .collect();
        if let (Some(&a), Some(&b)) = (children.first(), children.last()) {
            y[i] = (y[a] + y[b]) / 2;
            for &k in &children {
                let from = (20 + colw * (len as i32 - 1) + box_w - 4, y[i]);
                let to = (20 + colw * len as i32 - 4, y[k]);
                line(area, vec![from, to], BLACK.mix(0.25).stroke_width(1))?;
            }
        }
    }
    for (node, &y) in nodes.iter().zip(&y) {
        let x = 20 + colw * (node.path.len() as i32 - 1);
        let received = if node.lied { &LIE } else { &BLACK };
        let border = [(x - 4, y - 8), (x + box_w - 4, y + 8)];
        area.draw(&Rectangle::new(border, received.mix(0.5).stroke_width(1)))
            .map_err(plot_error)?;
        text(
            area,
            &path_name(&node.path),
            (x, y),
            bold(12, &BLACK, HPos::Left),
        )?;
        let got_x = x + 10 + 7 * (2 * node.path.len() as i32 - 1);
        let got = format!("got {}", letter(node.received));
        text(area, &got, (got_x, y), style(12, received, HPos::Left))?;
        if node.path.len() < depth {
            let maj = format!("maj {}", letter(node.majority));
            text(area, &maj, (got_x + 46, y), bold(12, &LOYAL, HPos::Left))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_heads_point_along_the_arrow() {
        let [tip, base, left, right] = arrow_head((0, 0), (100, 0));
        assert_eq!(tip, (100, 0));
        assert_eq!(base, (89, 0));
        assert_eq!((left.0, right.0), (89, 89));
        assert!(left.1 > 0 && right.1 < 0);
        let [_, base, ..] = arrow_head((0, 100), (0, 0));
        assert_eq!(base, (0, 11));
    }

    #[test]
    fn oral_values_read_as_letters_and_long_frames_are_cut() {
        let mut bits = generals_wire::OralBits::zeros(3);
        bits.set(1, true);
        assert_eq!(summary(&RoundBody::Oral(bits)), "RAR");
        let long = generals_wire::OralBits::zeros(40);
        assert_eq!(summary(&RoundBody::Oral(long)), "RRRRRRRRRRRR… (40 values)");
        assert_eq!(summary(&RoundBody::Empty), "nothing");
    }
}
