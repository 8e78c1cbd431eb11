//! Every picture cdn-sim draws is well-formed XML (a browser shows a broken SVG file as an
//! error page, and GitHub as a broken image): the committed diagrams under
//! `docs/errors/img/`, a sweep plot, and every SVG inlined in an HTML report. The HTML report
//! is self-contained: no script, no stylesheet or image fetched from anywhere, and a
//! Content-Security-Policy that forbids fetching.

use cdn_sim::answers::Answers;
use cdn_sim::builtin;
use cdn_sim::html::{render, Page};
use cdn_sim::progress::Progress;
use cdn_sim::run::{run, RunPlan};
use cdn_sim::sweep::{output, set::Setting, Sweep};
use std::path::PathBuf;

fn well_formed(svg: &str, what: &str) {
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("{what}: not well-formed XML: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg", "{what}");
}

#[test]
fn committed_sequence_diagrams_are_well_formed() {
    let dir: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "docs",
        "errors",
        "img",
    ]
    .iter()
    .collect();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "svg") {
            well_formed(
                &std::fs::read_to_string(&path).unwrap(),
                &path.display().to_string(),
            );
            n += 1;
        }
    }
    assert!(n >= 12, "{n} diagrams under {}", dir.display());
}

#[test]
fn sweep_plots_are_well_formed() {
    let src = builtin::source("limit-req-one-ip").unwrap();
    let sweep = Sweep::new(
        src,
        "limit-req-one-ip",
        vec![
            Setting::parse("origin.limit_req.burst=0,5,19").unwrap(),
            Setting::parse("origin.limit_req.status=503,429").unwrap(),
        ],
    )
    .unwrap();
    well_formed(
        &output::to_svg(&sweep.run(None, 2, None).unwrap()),
        "sweep plot",
    );
}

fn report(name: &str) -> String {
    let s = builtin::load(name).unwrap();
    let out = run(
        &s,
        &RunPlan {
            collect: true,
            ..Default::default()
        },
        &Progress::hidden(),
    )
    .unwrap();
    let answers: &Answers = out.answers.as_ref().unwrap();
    render(&Page {
        scenario: &s,
        report: &out.report,
        answers,
        traces: &out.traces,
        command: format!("cdn-sim run {name} --html r.html"),
    })
}

#[test]
fn html_reports_are_self_contained_with_well_formed_pictures() {
    for name in [
        "origin-down-mid-run",
        "whitelist-rotating-pool",
        "l2-dies-with-l1-copies",
    ] {
        let html = report(name);
        assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
        for forbidden in [
            "<script", "<link", "<img", "<iframe", "@import", "src=", "href=",
        ] {
            assert!(!html.contains(forbidden), "{name}: contains {forbidden}");
        }
        // Every inline picture parses as XML on its own.
        let mut rest = html.as_str();
        let mut n = 0;
        while let Some(start) = rest.find("<svg ") {
            let end = rest[start..].find("</svg>").expect("closed") + start + "</svg>".len();
            well_formed(&rest[start..end], &format!("{name}: picture {n}"));
            rest = &rest[end..];
            n += 1;
        }
        // Topology, two time charts, latency, caches, and one diagram per status code.
        let codes = builtin::load(name)
            .map(|s| {
                cdn_sim::engine::simulate(&s, Default::default())
                    .unwrap()
                    .report
                    .status
                    .len()
            })
            .unwrap();
        assert_eq!(n, 5 + codes, "{name}: pictures");
    }
}

#[test]
fn the_same_run_draws_the_same_page() {
    assert_eq!(report("origin-down-mid-run"), report("origin-down-mid-run"));
}
