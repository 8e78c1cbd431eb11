//! A [`Trace`] as a sequence diagram: one lifeline per party (client, the L1 and L2 nodes
//! the request touched, the origin), time running down, an arrow for every message and a
//! note for every decision — what a network engineer draws on a whiteboard to explain a 522.
//!
//! Rows follow the trace's steps, not a linear time scale (a 19 s connect timeout would
//! otherwise squash everything else into one pixel); a long wait is drawn as a break in
//! the lifelines with the time that passed. Tiers the request never reached get a dashed
//! lifeline marked "not reached", so a cache hit visibly stops at the edge.
//!
//! ```
//! use cdn_sim::{builtin, engine::{simulate, SimOptions}, svg::sequence};
//! let out = simulate(&builtin::load("firewall-drop").unwrap(), SimOptions { trace: 1, ..Default::default() }).unwrap();
//! let svg = sequence::render(&out.traces[0]);
//! assert!(svg.contains("SYN from 127.0.1.1"));
//! assert!(svg.contains("generates 522"));
//! ```

use super::{esc, human, num, status_color, text_width, Svg};
use cdn_core::origin::{ConnectVerdict, Defence};
use cdn_core::trace::TraceEvent;
use cdn_core::{Tier, Trace};
use std::collections::BTreeMap;
use std::time::Duration;

/// Which party a lifeline stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Party {
    Client,
    Cache(Tier),
    Origin,
}

#[derive(Clone, Debug)]
struct Lane {
    party: Party,
    name: String,
    reached: bool,
}

/// How an arrow ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Head {
    /// Delivered.
    Arrive,
    /// Lost on the way (a dropped SYN): ends in a cross before the target.
    Lost,
}

/// How a note reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tone {
    Info,
    Good,
    Bad,
    Dim,
}

#[derive(Clone, Debug)]
enum Item {
    Arrow {
        from: usize,
        to: usize,
        label: String,
        color: &'static str,
        head: Head,
        dashed: bool,
    },
    Note {
        lane: usize,
        text: String,
        tone: Tone,
    },
    /// Time passes with nothing happening.
    Gap(Duration),
}

struct Row {
    at: Duration,
    item: Item,
}

const LANE_GAP: f64 = 210.0;
const LEFT: f64 = 78.0;
const TOP: f64 = 58.0;
const HEAD_H: f64 = 38.0;
const ROW_H: f64 = 24.0;
const GAP_H: f64 = 30.0;
/// A wait at least this long is drawn as a break in the lifelines.
const BREAK_AT: Duration = Duration::from_millis(900);

/// The sequence diagram of one traced request, as a standalone SVG document.
pub fn render(trace: &Trace) -> String {
    render_with_id(trace, "seq")
}

/// As [`render`], with the picture's internal ids (its arrowhead) prefixed by `id`, so that
/// several diagrams can be inlined in one HTML page.
pub fn render_with_id(trace: &Trace, id: &str) -> String {
    let lanes = lanes(trace);
    let rows = rows(trace, &lanes);
    draw(trace, &lanes, &rows, id)
}

/// The parties, in path order: client, L1s, L2s, origin (placeholders for tiers the request
/// never reached).
fn lanes(trace: &Trace) -> Vec<Lane> {
    let mut party_of: BTreeMap<&str, Party> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for step in &trace.steps {
        if step.node == "client" {
            continue;
        }
        if let TraceEvent::Connect { to, peer, .. } = &step.event {
            let p = match to {
                Tier::Origin => Party::Origin,
                t => Party::Cache(*t),
            };
            party_of.entry(peer.as_str()).or_insert(p);
            if !order.contains(&peer.as_str()) {
                order.push(peer.as_str());
            }
        }
        if !party_of.contains_key(step.node.as_str()) {
            // The first node to see the request is the edge; a node that answers for the
            // origin (a defence) is named after the origin host and was met through Connect.
            let p = if party_of.is_empty() {
                Party::Cache(Tier::L1)
            } else if matches!(step.event, TraceEvent::Defended { .. }) {
                Party::Origin
            } else {
                Party::Cache(Tier::L2)
            };
            party_of.insert(step.node.as_str(), p);
        }
        if !order.contains(&step.node.as_str()) {
            order.push(step.node.as_str());
        }
    }
    let mut lanes = vec![Lane {
        party: Party::Client,
        name: format!("client {}", trace.client),
        reached: true,
    }];
    for want in [
        Party::Cache(Tier::L1),
        Party::Cache(Tier::L2),
        Party::Origin,
    ] {
        let mut found = false;
        for name in &order {
            if party_of.get(name) == Some(&want) {
                found = true;
                lanes.push(Lane {
                    party: want,
                    name: (*name).to_string(),
                    reached: true,
                });
            }
        }
        if !found {
            lanes.push(Lane {
                party: want,
                name: String::new(),
                reached: false,
            });
        }
    }
    // A node is "reached" when the request got there: L2 and origin lanes that only appear
    // as the target of a refused or dropped connection were not.
    for lane in lanes.iter_mut() {
        if lane.party == Party::Origin && lane.reached {
            lane.reached = trace.steps.iter().any(|s| {
                matches!(
                    s.event,
                    TraceEvent::RequestSent | TraceEvent::Defended { .. }
                ) || matches!(
                    s.event,
                    TraceEvent::Connect {
                        verdict: Some(ConnectVerdict::Accept),
                        to: Tier::Origin,
                        ..
                    }
                )
            });
        }
    }
    lanes
}

fn lane_of(lanes: &[Lane], name: &str) -> Option<usize> {
    if name == "client" {
        return Some(0);
    }
    lanes
        .iter()
        .position(|l| l.reached && l.name == name)
        .or_else(|| {
            lanes
                .iter()
                .position(|l| l.name == name && l.party != Party::Client)
        })
}

fn origin_lane(lanes: &[Lane]) -> usize {
    lanes
        .iter()
        .position(|l| l.party == Party::Origin)
        .expect("an origin lane always exists")
}

fn rows(trace: &Trace, lanes: &[Lane]) -> Vec<Row> {
    let mut rows = Vec::new();
    // Who sent the request to each lane (to draw responses back), and where each lane's
    // open connection leads.
    let mut sender: BTreeMap<usize, usize> = BTreeMap::new();
    let mut peer_of: BTreeMap<usize, usize> = BTreeMap::new();
    // The lane waiting for the origin's answer to a request it sent.
    let mut awaiting_origin: Option<usize> = None;
    let origin = origin_lane(lanes);
    // When each SYN of a dropped connect is traced, each is drawn (not the connect itself);
    // `syn_from` carries the connect's egress and attempt to the first SYN's label.
    let syns_traced = trace
        .steps
        .iter()
        .any(|s| matches!(s.event, TraceEvent::SynSent { .. }));
    let mut syn_from = String::new();
    let mut last_at = Duration::ZERO;
    let push = |rows: &mut Vec<Row>, last_at: &mut Duration, at: Duration, item: Item| {
        if at.saturating_sub(*last_at) >= BREAK_AT {
            rows.push(Row {
                at: *last_at,
                item: Item::Gap(at - *last_at),
            });
        }
        *last_at = at;
        rows.push(Row { at, item });
    };
    for (i, step) in trace.steps.iter().enumerate() {
        let Some(here) = lane_of(lanes, &step.node) else {
            continue;
        };
        // The origin's answer arrives at the lane that sent it a request: draw it before
        // whatever that lane does next.
        if awaiting_origin == Some(here)
            && !matches!(
                step.event,
                TraceEvent::Failed { .. } | TraceEvent::Connect { .. } | TraceEvent::RequestSent
            )
        {
            let label = match origin_answer(&trace.steps[i..], &step.node) {
                Some(s) => format!("HTTP {s}"),
                None => "response".into(),
            };
            let color = origin_answer(&trace.steps[i..], &step.node).map_or("#555", status_color);
            push(
                &mut rows,
                &mut last_at,
                step.at,
                Item::Arrow {
                    from: origin,
                    to: here,
                    label,
                    color,
                    head: Head::Arrive,
                    dashed: true,
                },
            );
            awaiting_origin = None;
        }
        let item = match &step.event {
            TraceEvent::Received => {
                let from = if lanes[here].party == Party::Cache(Tier::L1) {
                    0
                } else {
                    peer_of
                        .iter()
                        .find(|(_, &to)| to == here)
                        .map(|(&from, _)| from)
                        .unwrap_or(here.saturating_sub(1))
                };
                sender.insert(here, from);
                Some(Item::Arrow {
                    from,
                    to: here,
                    label: format!("GET {}", trace.path),
                    color: "#333",
                    head: Head::Arrive,
                    dashed: false,
                })
            }
            TraceEvent::Cache { status, age_s } => Some(Item::Note {
                lane: here,
                text: match age_s {
                    Some(a) => format!("cache {status} (Age {a}s)"),
                    None => format!("cache {status}"),
                },
                tone: if status.served_from_cache() {
                    Tone::Good
                } else {
                    Tone::Info
                },
            }),
            TraceEvent::Connect {
                to,
                peer,
                egress,
                reused,
                verdict,
                attempt,
                port,
            } => {
                let target = if *to == Tier::Origin {
                    origin
                } else {
                    lane_of(lanes, peer).unwrap_or(here + 1)
                };
                peer_of.insert(here, target);
                let from = egress.map(|e| format!(" from {e}")).unwrap_or_default();
                let att = if *attempt > 1 {
                    format!("attempt {attempt}: ")
                } else {
                    String::new()
                };
                if *reused {
                    if *to == Tier::Origin {
                        Some(Item::Note {
                            lane: here,
                            text: format!("reuses an idle connection{from}"),
                            tone: Tone::Dim,
                        })
                    } else {
                        None
                    }
                } else {
                    match verdict {
                        Some(ConnectVerdict::Accept) | None => {
                            push(
                                &mut rows,
                                &mut last_at,
                                step.at,
                                Item::Arrow {
                                    from: here,
                                    to: target,
                                    label: format!("{att}SYN{from} → :{port}"),
                                    color: "#333",
                                    head: Head::Arrive,
                                    dashed: false,
                                },
                            );
                            Some(Item::Arrow {
                                from: target,
                                to: here,
                                label: "SYN-ACK: connected".into(),
                                color: "#43a047",
                                head: Head::Arrive,
                                dashed: true,
                            })
                        }
                        Some(ConnectVerdict::Refuse) => {
                            push(
                                &mut rows,
                                &mut last_at,
                                step.at,
                                Item::Arrow {
                                    from: here,
                                    to: target,
                                    label: format!("{att}SYN{from} → :{port}"),
                                    color: "#333",
                                    head: Head::Arrive,
                                    dashed: false,
                                },
                            );
                            Some(Item::Arrow {
                                from: target,
                                to: here,
                                label: "RST: connection refused".into(),
                                color: "#c62828",
                                head: Head::Arrive,
                                dashed: true,
                            })
                        }
                        Some(ConnectVerdict::Drop) if syns_traced => {
                            syn_from = format!("{att}SYN{from}");
                            None
                        }
                        Some(ConnectVerdict::Drop) => Some(Item::Arrow {
                            from: here,
                            to: target,
                            label: format!("{att}SYN{from}: dropped, no answer"),
                            color: "#ef6c00",
                            head: Head::Lost,
                            dashed: false,
                        }),
                        Some(ConnectVerdict::Unreachable) => Some(Item::Arrow {
                            from: here,
                            to: target,
                            label: format!("{att}SYN{from}: ICMP no route to host"),
                            color: "#9e9d24",
                            head: Head::Lost,
                            dashed: false,
                        }),
                    }
                }
            }
            TraceEvent::SynSent { transmission } => {
                // Retransmissions follow each other at the kernel's schedule: the time
                // labels tell it, so no break is drawn between them.
                if *transmission > 1 {
                    last_at = step.at;
                }
                Some(Item::Arrow {
                    from: here,
                    to: peer_of.get(&here).copied().unwrap_or(origin),
                    label: if *transmission == 1 {
                        format!("{syn_from}: dropped, no answer")
                    } else {
                        format!("SYN retransmitted (#{transmission}): dropped")
                    },
                    color: "#ef6c00",
                    head: Head::Lost,
                    dashed: false,
                })
            }
            TraceEvent::TlsEstablished { verified } => Some(Item::Note {
                lane: here,
                text: if *verified {
                    "TLS handshake done, certificate verified".into()
                } else {
                    "TLS handshake done, certificate not checked".into()
                },
                tone: Tone::Info,
            }),
            TraceEvent::RequestSent => {
                let to = peer_of.get(&here).copied().unwrap_or(origin);
                if to == origin {
                    awaiting_origin = Some(here);
                }
                Some(Item::Arrow {
                    from: here,
                    to,
                    label: format!("GET {}", trace.path),
                    color: "#333",
                    head: Head::Arrive,
                    dashed: false,
                })
            }
            TraceEvent::Defended { by } => Some(Item::Note {
                lane: here,
                text: match by {
                    Defence::LimitReq => {
                        "limit_req: over the rate for this address → rejects".into()
                    }
                    Defence::LimitConn => {
                        "limit_conn: too many in flight from this address → rejects".into()
                    }
                    Defence::Overload => "all workers busy, queue full → rejects".into(),
                },
                tone: Tone::Bad,
            }),
            TraceEvent::Failed { failure, waited } => {
                if awaiting_origin == Some(here) {
                    awaiting_origin = None;
                }
                Some(Item::Note {
                    lane: here,
                    text: format!("{failure} after {}", human(*waited)),
                    tone: Tone::Bad,
                })
            }
            TraceEvent::Generated { status, reason } => Some(Item::Note {
                lane: here,
                text: format!("generates {status} {reason}"),
                tone: if *status >= 500 {
                    Tone::Bad
                } else {
                    Tone::Info
                },
            }),
            TraceEvent::ServedStale { instead_of } => Some(Item::Note {
                lane: here,
                text: format!("serves its stale copy instead of {instead_of} (stale-if-error)"),
                tone: Tone::Good,
            }),
            TraceEvent::Retry { policy } => Some(Item::Note {
                lane: here,
                text: format!("parent failed: on_parent_error = {policy}"),
                tone: Tone::Info,
            }),
            TraceEvent::Stored { ttl_s } => Some(Item::Note {
                lane: here,
                text: format!("stores the response, fresh for {ttl_s}s"),
                tone: Tone::Dim,
            }),
            TraceEvent::NotStored { reason } => Some(Item::Note {
                lane: here,
                text: format!("does not store it: {reason}"),
                tone: Tone::Dim,
            }),
            TraceEvent::Collapsed => Some(Item::Note {
                lane: here,
                text: "waits: the same URL is already being fetched (collapsing)".into(),
                tone: Tone::Info,
            }),
            TraceEvent::CollapseTimeout => Some(Item::Note {
                lane: here,
                text: "gave up waiting: fetches itself, will not cache".into(),
                tone: Tone::Info,
            }),
            TraceEvent::Conditional { etag } => Some(Item::Note {
                lane: here,
                text: match etag {
                    Some(v) => format!("revalidates: If-None-Match: \"v{v}\""),
                    None => "revalidates: If-Modified-Since".into(),
                },
                tone: Tone::Info,
            }),
            TraceEvent::Revalidated => Some(Item::Note {
                lane: here,
                text: "304 Not Modified: its copy is fresh again".into(),
                tone: Tone::Good,
            }),
            TraceEvent::Responded {
                status,
                generated_by,
            } => {
                if here == 0 {
                    let edge = lanes
                        .iter()
                        .position(|l| l.party == Party::Cache(Tier::L1))
                        .unwrap_or(1);
                    Some(Item::Arrow {
                        from: edge,
                        to: 0,
                        label: format!("{status} (generated by {generated_by})"),
                        color: status_color(*status),
                        head: Head::Arrive,
                        dashed: true,
                    })
                } else if lanes[here].party == Party::Cache(Tier::L1)
                    && sender.get(&here) == Some(&0)
                {
                    // The client's own step draws this answer.
                    None
                } else {
                    let to = sender.get(&here).copied().unwrap_or(0);
                    Some(Item::Arrow {
                        from: here,
                        to,
                        label: format!("{status} (generated by {generated_by})"),
                        color: status_color(*status),
                        head: Head::Arrive,
                        dashed: true,
                    })
                }
            }
            other => Some(Item::Note {
                lane: here,
                text: format!("{other:?}"),
                tone: Tone::Dim,
            }),
        };
        if let Some(item) = item {
            push(&mut rows, &mut last_at, step.at, item);
        }
    }
    rows
}

/// The status of the origin's answer to `node`: the next response `node` passes on that the
/// origin generated, or 304 for a revalidation.
fn origin_answer(rest: &[cdn_core::trace::TraceStep], node: &str) -> Option<u16> {
    for s in rest.iter().filter(|s| s.node == node) {
        match s.event {
            TraceEvent::Revalidated => return Some(304),
            TraceEvent::Responded {
                status,
                generated_by: Tier::Origin,
            } => return Some(status),
            TraceEvent::Responded { .. } | TraceEvent::Failed { .. } => return None,
            _ => {}
        }
    }
    None
}

fn lane_x(i: usize) -> f64 {
    LEFT + 60.0 + i as f64 * LANE_GAP
}

fn draw(trace: &Trace, lanes: &[Lane], rows: &[Row], id: &str) -> String {
    let n = lanes.len();
    // Notes sit to the right of their lifeline (left of the last one); the canvas grows to
    // fit the longest.
    let mut right = lane_x(n - 1) + 80.0;
    for r in rows {
        if let Item::Note { lane, text, .. } = &r.item {
            let w = text_width(text, 11.5) + 14.0;
            if *lane + 1 < n {
                right = right.max(lane_x(*lane) + 8.0 + w + 10.0);
            }
        }
        if let Item::Arrow {
            from, to, label, ..
        } = &r.item
        {
            let mid = (lane_x(*from) + lane_x(*to)) / 2.0;
            right = right.max(mid + text_width(label, 11.5) / 2.0 + 10.0);
        }
    }
    let height_rows: f64 = rows
        .iter()
        .map(|r| match r.item {
            Item::Gap(_) => GAP_H,
            _ => ROW_H,
        })
        .sum();
    let top_rows = TOP + HEAD_H + 16.0;
    let height = top_rows + height_rows + 24.0;
    let mut svg = Svg::new(right.max(640.0), height);
    svg.style(
        ".lane{stroke:#9e9e9e;stroke-width:1.2}.lane-off{stroke:#cfcfcf;stroke-width:1.2;stroke-dasharray:4 4}\
         .t{font-size:10.5px;fill:#666;font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace}\
         .lbl{font-size:11.5px}.note{font-size:11.5px}.head{font-size:12px;font-weight:600}\
         .sub{font-size:10.5px;fill:#666}",
    );
    let gen_color = status_color(trace.status);
    svg.text(
        12.0,
        22.0,
        &format!(
            "request #{} GET {} → {} generated by {} in {}",
            trace.request,
            trace.path,
            trace.status,
            trace.generated_by,
            human(trace.latency)
        ),
        "title",
    );
    svg.rect(12.0, 30.0, 18.0, 6.0, gen_color, None);
    svg.text(
        36.0,
        37.0,
        &format!(
            "{} at the edge · rows in order of events; time since the client sent the request on the left",
            trace.cache_status
        ),
        "small",
    );
    // Lane heads and lifelines.
    let bottom = height - 14.0;
    for (i, lane) in lanes.iter().enumerate() {
        let x = lane_x(i);
        let (title, sub) = match lane.party {
            Party::Client => ("client".to_string(), trace.client.to_string()),
            Party::Cache(t) => (
                if lane.reached {
                    lane.name.clone()
                } else {
                    format!("{} (not reached)", t.as_str().to_uppercase())
                },
                match t {
                    Tier::L1 => "L1 edge cache".into(),
                    _ => "L2 parent cache".into(),
                },
            ),
            Party::Origin => (
                if lane.name.is_empty() {
                    "origin (not reached)".into()
                } else {
                    lane.name.clone()
                },
                if lane.reached || lane.name.is_empty() {
                    "origin server".into()
                } else {
                    "origin: no request arrived".into()
                },
            ),
        };
        // Bold heads run wider than the estimate for regular text.
        let w = text_width(&title, 13.5).max(text_width(&sub, 10.5)) + 18.0;
        let (fill, stroke) = if lane.reached {
            ("#f5f7fa", "#90a4ae")
        } else {
            ("#fafafa", "#d0d0d0")
        };
        svg.boxed(x - w / 2.0, TOP, w, HEAD_H - 4.0, fill, stroke);
        svg.text_anchored(x, TOP + 15.0, &title, "head", "middle");
        svg.text_anchored(x, TOP + 28.0, &sub, "sub", "middle");
        svg.line(
            x,
            TOP + HEAD_H - 4.0,
            x,
            bottom,
            if lane.reached { "lane" } else { "lane-off" },
        );
    }
    // One arrowhead per colour (SVG 1.1 markers cannot take the line's colour).
    let mut colors: Vec<&str> = rows
        .iter()
        .filter_map(|r| match &r.item {
            Item::Arrow { color, .. } => Some(*color),
            _ => None,
        })
        .collect();
    colors.sort_unstable();
    colors.dedup();
    svg.raw("<defs>");
    for c in &colors {
        svg.raw(&format!(
            "<marker id=\"{id}-{}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{c}\"/></marker>",
            c.trim_start_matches('#')
        ));
    }
    svg.raw("</defs>");
    let mut y = top_rows;
    let mut last_time: Option<Duration> = None;
    for r in rows {
        match &r.item {
            Item::Gap(d) => {
                let mid = y + GAP_H / 2.0;
                for i in 0..n {
                    let x = lane_x(i);
                    // A white band with zigzag edges across every lifeline.
                    svg.rect(x - 6.0, y + 6.0, 12.0, GAP_H - 12.0, "#fff", None);
                    svg.raw(&format!(
                        "<path d=\"M{} {} l4 -3 l4 3 l4 -3 M{} {} l4 -3 l4 3 l4 -3\" fill=\"none\" stroke=\"#9e9e9e\"/>",
                        num(x - 6.0),
                        num(y + 8.0),
                        num(x - 6.0),
                        num(y + GAP_H - 5.0)
                    ));
                }
                svg.text(
                    lane_x(0) + 12.0,
                    mid + 4.0,
                    &format!("⋯ {} pass with no answer ⋯", human(*d)),
                    "sub",
                );
                y += GAP_H;
            }
            Item::Note { lane, text, tone } => {
                time_label(&mut svg, &mut last_time, r.at, y);
                let (fill, stroke, color) = match tone {
                    Tone::Info => ("#eef3f8", "#b0bec5", "#263238"),
                    Tone::Good => ("#e8f5e9", "#81c784", "#1b5e20"),
                    Tone::Bad => ("#ffebee", "#e57373", "#b71c1c"),
                    Tone::Dim => ("#fafafa", "#e0e0e0", "#757575"),
                };
                let w = text_width(text, 11.5) + 14.0;
                let x = if *lane + 1 == n {
                    lane_x(*lane) - 8.0 - w
                } else {
                    lane_x(*lane) + 8.0
                };
                svg.boxed(x, y + 3.0, w, ROW_H - 6.0, fill, stroke);
                svg.raw(&format!(
                    "<text x=\"{}\" y=\"{}\" class=\"note\" style=\"fill:{color}\">{}</text>",
                    num(x + 7.0),
                    num(y + 16.0),
                    esc(text)
                ));
                y += ROW_H;
            }
            Item::Arrow {
                from,
                to,
                label,
                color,
                head,
                dashed,
            } => {
                time_label(&mut svg, &mut last_time, r.at, y);
                let (x1, x2) = (lane_x(*from), lane_x(*to));
                let ya = y + ROW_H - 5.0;
                let end = match head {
                    Head::Arrive => x2 - (x2 - x1).signum() * 2.0,
                    Head::Lost => x1 + (x2 - x1) * 0.72,
                };
                let dash = if *dashed { ";stroke-dasharray:5 3" } else { "" };
                let marker = if *head == Head::Arrive {
                    format!(
                        " marker-end=\"url(#{id}-{})\"",
                        color.trim_start_matches('#')
                    )
                } else {
                    String::new()
                };
                svg.raw(&format!(
                    "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" style=\"stroke:{color};stroke-width:1.6{dash}\"{marker}/>",
                    num(x1),
                    num(ya),
                    num(end),
                    num(ya)
                ));
                if *head == Head::Lost {
                    svg.raw(&format!(
                        "<path d=\"M{} {} l8 8 M{} {} l-8 8\" style=\"stroke:{color};stroke-width:2\"/>",
                        num(end - 4.0),
                        num(ya - 4.0),
                        num(end + 4.0),
                        num(ya - 4.0)
                    ));
                }
                // Delivered arrows are labelled in their middle; a lost one from where it
                // left, clear of the lifeline it starts on.
                let (lx, anchor) = match head {
                    Head::Arrive => ((x1 + x2) / 2.0, "middle"),
                    Head::Lost if x2 >= x1 => (x1 + 8.0, "start"),
                    Head::Lost => (x1 - 8.0, "end"),
                };
                svg.raw(&format!(
                    "<text x=\"{}\" y=\"{}\" class=\"lbl\" text-anchor=\"{anchor}\" style=\"fill:{}\">{}</text>",
                    num(lx),
                    num(ya - 4.0),
                    if *color == "#333" { "#222" } else { color },
                    esc(label)
                ));
                y += ROW_H;
            }
        }
    }
    svg.finish()
}

fn time_label(svg: &mut Svg, last: &mut Option<Duration>, at: Duration, y: f64) {
    if *last == Some(at) {
        return;
    }
    *last = Some(at);
    svg.text_anchored(LEFT + 10.0, y + ROW_H - 8.0, &clock(at), "t", "end");
}

/// A time label precise enough to order rows: `5 ms`, `1075 ms`, `19.015 s`.
fn clock(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10_000.0 {
        let s = format!("{ms:.1}");
        format!("{} ms", s.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;
    use crate::engine::{simulate, SimOptions};

    fn first_trace(name: &str) -> Trace {
        let s = builtin::load(name).unwrap();
        simulate(
            &s,
            SimOptions {
                trace: 1,
                ..Default::default()
            },
        )
        .unwrap()
        .traces
        .remove(0)
    }

    #[test]
    fn a_dropped_syn_is_a_lost_arrow_then_a_long_wait() {
        let svg = render(&first_trace("firewall-drop"));
        assert!(svg.contains("SYN from 127.0.1.1: dropped, no answer"));
        assert!(svg.contains("SYN retransmitted (#8): dropped"));
        // After the last retransmission (at 11 s) nothing happens until the 19 s limit.
        assert!(svg.contains("8 s pass with no answer"));
        assert!(svg.contains("connect timed out (SYN unanswered) after 19 s"));
        assert!(svg.contains("522 (generated by l2)"));
    }

    #[test]
    fn a_refused_connect_draws_the_rst_coming_back() {
        let svg = render(&first_trace("origin-down"));
        assert!(svg.contains("RST: connection refused"));
        assert!(svg.contains("generates 521"));
        // The origin never got a request.
        assert!(svg.contains("origin: no request arrived"));
    }

    #[test]
    fn a_success_shows_the_origins_answer_and_both_stores() {
        let svg = render(&first_trace("limit-req-one-ip"));
        assert!(svg.contains("HTTP 200"));
        assert!(svg.contains("stores the response, fresh for 60s"));
        assert!(svg.contains("200 (generated by origin)"));
    }

    #[test]
    fn the_same_trace_draws_the_same_bytes() {
        let t = first_trace("firewall-drop");
        assert_eq!(render(&t), render(&t));
    }
}
