//! `cdn-sim quiz`: predict what visitors will see, then watch it happen.
//!
//! Each round picks a built-in scenario, shows its description (with the answer blanked
//! out) and its topology, and asks two questions: which status code most visitors get, and
//! which tier generates it. Then it runs the scenario and shows the result, the story of the
//! first request that got that code, and where to read more.
//!
//! Input is read line by line from any reader, so the quiz works the same in a terminal and
//! from a pipe (`printf '522\nl2\n' | cdn-sim quiz --scenario firewall-drop`); end of input
//! ends the quiz early with the score so far.

use crate::builtin;
use crate::explain;
use crate::html::meaning;
use crate::progress::Progress;
use crate::report::traces_to_text;
use crate::run::{run, RunPlan};
use crate::scenario::{Arrival, Scenario, Urls};
use crate::svg::topology::pool_addresses;
use crate::svg::{human, scenario_word as snake};
use rand::seq::SliceRandom;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::{self, BufRead, Write};

/// How to play.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuizOptions {
    /// Rounds to play (each a different scenario, while there are enough).
    pub rounds: usize,
    /// Picks the scenarios.
    pub seed: u64,
    /// Play this built-in scenario (every round).
    pub scenario: Option<String>,
    /// Echo each answer after its prompt (for piped input, which a terminal does not show).
    pub echo: bool,
}

/// Points scored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Right answers.
    pub right: u32,
    /// Questions asked.
    pub asked: u32,
}

/// The answer to a round: the most common status and the tier that generated most of it.
struct Answer {
    code: u16,
    count: u64,
    tier: String,
}

fn answer_of(report: &crate::report::Report) -> Option<Answer> {
    let mut by_count: Vec<(&crate::report::StatusCode, &u64)> = report.status.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let (code, count) = by_count.first()?;
    // A tie for the most common code has no single answer.
    if by_count.get(1).is_some_and(|(_, n)| n == count) {
        return None;
    }
    let tier = report.generated_by[*code]
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(t, _)| t.as_str().to_string())?;
    Some(Answer {
        code: code.0,
        count: **count,
        tier,
    })
}

/// The built-ins a quiz can ask about: one status code is the most common.
pub fn candidates() -> Vec<&'static str> {
    builtin::names()
        .into_iter()
        .filter(|n| {
            let s = builtin::load(n).expect("built-ins load");
            crate::engine::simulate(&s, Default::default())
                .is_ok_and(|out| answer_of(&out.report).is_some())
        })
        .collect()
}

/// Blanks out status codes and their names in a description.
pub fn redact(text: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        let digits: String = w.chars().filter(|c| c.is_ascii_digit()).collect();
        let core = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let is_code = digits.len() == 3
            && core.len() == 3
            && (100..=599).contains(&digits.parse::<u16>().unwrap_or(0));
        words.push(if is_code {
            w.replace(core, "???")
        } else {
            w.to_string()
        });
    }
    let mut out = words.join(" ");
    for code in explain::codes() {
        let title = explain::lookup(code).expect("listed").title;
        let name = title.split(" (").next().unwrap_or(title);
        if name.len() > 6 {
            out = replace_ci(&out, name, "▒▒▒");
        }
    }
    out
}

fn replace_ci(haystack: &str, needle: &str, with: &str) -> String {
    let lower = haystack.to_ascii_lowercase();
    let n = needle.to_ascii_lowercase();
    let mut out = String::new();
    let mut i = 0;
    while let Some(k) = lower[i..].find(&n) {
        out.push_str(&haystack[i..i + k]);
        out.push_str(with);
        i += k + n.len();
    }
    out.push_str(&haystack[i..]);
    out
}

/// The topology and settings of `s`, as text, without giving the answer away.
pub fn describe(s: &Scenario) -> String {
    let t = s.cdn.timeouts(s.profile);
    let mut out = format!(
        "  profile {} · ssl_mode {} · connect timeout {} × {} · read timeout {}\n",
        s.profile.as_str(),
        snake(&s.cdn.ssl_mode),
        human(t.connect),
        t.connect_attempts,
        human(t.read)
    );
    let l1: Vec<&str> = s.cdn.l1.iter().map(|n| n.name.as_str()).collect();
    out.push_str(&format!("  clients → L1 {}", l1.join(", ")));
    let l2: Vec<String> = s
        .cdn
        .l2
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let pool = pool_addresses(&s.cdn.l2, i, false);
            let state = snake(&n.state);
            format!(
                "{} ({} egress address{}{})",
                n.name,
                pool.len(),
                if pool.len() == 1 { "" } else { "es" },
                if state == "up" {
                    String::new()
                } else {
                    format!(", {state}")
                }
            )
        })
        .collect();
    out.push_str(&format!(" → L2 {}", l2.join(", ")));
    let o = &s.origin;
    out.push_str(&format!(
        " → origin {}\n  origin: state {}, port 80 {}, port 443 {}, cert {}, {} workers, serves status {} with Cache-Control {:?}\n",
        o.hostname,
        snake(&o.state),
        if o.http { "open" } else { "closed" },
        snake(&o.https),
        snake(&o.cert),
        o.workers,
        redact(&o.status.to_string()),
        o.cache_control
    ));
    for r in &o.firewall {
        out.push_str(&format!(
            "  firewall: {} from {}\n",
            snake(&r.action),
            r.source
        ));
    }
    if let Some(lr) = &o.limit_req {
        out.push_str(&format!(
            "  limit_req: {} burst {}{} per connecting address\n",
            lr.rate,
            lr.burst,
            if lr.nodelay { " nodelay" } else { "" }
        ));
    }
    if let Some(lc) = &o.limit_conn {
        out.push_str(&format!(
            "  limit_conn: {} per connecting address\n",
            lc.max
        ));
    }
    for w in &s.workloads {
        let how = match (w.arrival, w.count) {
            (Arrival::Burst, Some(n)) => format!("{n} requests at once"),
            (_, Some(n)) => format!("{} up to {n} requests", w.rate),
            (_, None) => format!("{} for {}", w.rate, human(s.duration)),
        };
        let urls = match w.urls {
            Urls::Distinct => "every request a new URL".to_string(),
            Urls::One => "one URL".to_string(),
            Urls::Keys(n) => format!("{n} URLs"),
        };
        out.push_str(&format!(
            "  workload: {how} from {}, {urls}, {}\n",
            human(w.start),
            snake(&w.scheme)
        ));
    }
    for e in &s.events {
        out.push_str(&format!("  at {}: {}\n", human(e.at), redact(&e.changes)));
    }
    out
}

/// Reads one trimmed line; `None` at end of input. Piped answers are echoed so that the
/// transcript reads like a terminal session.
fn ask(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    prompt: &str,
    echo: bool,
) -> io::Result<Option<String>> {
    write!(out, "{prompt} ")?;
    out.flush()?;
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        writeln!(out)?;
        return Ok(None);
    }
    if echo {
        writeln!(out, "{}", line.trim())?;
    }
    Ok(Some(line.trim().to_string()))
}

/// Asks until the answer parses (three tries); `None` at end of input or after three misses.
fn ask_parsed<T>(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    prompt: &str,
    echo: bool,
    parse: impl Fn(&str) -> Result<T, String>,
) -> io::Result<Option<T>> {
    for _ in 0..3 {
        let Some(line) = ask(input, out, prompt, echo)? else {
            return Ok(None);
        };
        match parse(&line) {
            Ok(v) => return Ok(Some(v)),
            Err(why) => writeln!(out, "  {why}")?,
        }
    }
    Ok(None)
}

/// Plays the quiz, reading answers from `input` and writing to `out`.
pub fn play(input: &mut dyn BufRead, out: &mut dyn Write, opts: &QuizOptions) -> io::Result<Score> {
    let names: Vec<&str> = match &opts.scenario {
        Some(n) => vec![builtin::names()
            .into_iter()
            .find(|b| b == n)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no built-in scenario {n:?}; see cdn-sim list"),
                )
            })?],
        None => {
            let mut c = candidates();
            c.shuffle(&mut ChaCha8Rng::seed_from_u64(opts.seed));
            c
        }
    };
    let mut score = Score::default();
    writeln!(
        out,
        "cdn-sim quiz: {} round{}. For each scenario, predict what most visitors get and who generates it.",
        opts.rounds,
        if opts.rounds == 1 { "" } else { "s" }
    )?;
    if opts.scenario.is_none() {
        writeln!(
            out,
            "(seed {}: `cdn-sim quiz --seed {}` asks the same questions)",
            opts.seed, opts.seed
        )?;
    }
    for round in 0..opts.rounds {
        let name = names[round % names.len()];
        let scenario = builtin::load(name).expect("built-ins load");
        writeln!(
            out,
            "\n━━ round {} of {}: {name} ━━",
            round + 1,
            opts.rounds
        )?;
        let desc = scenario
            .description
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        writeln!(out, "{}\n", crate::report::wrap(&redact(&desc), 92, "  "))?;
        write!(out, "{}", describe(&scenario))?;
        let Some(code) = ask_parsed(
            input,
            out,
            "\nWhich status code will most visitors get?",
            opts.echo,
            |s| match s.parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => Ok(c),
                _ => Err(format!(
                    "{s:?} is not a status code; answer with a number like 200 or 522"
                )),
            },
        )?
        else {
            break;
        };
        let Some(tier) = ask_parsed(
            input,
            out,
            "Which tier generates it: l1, l2 or origin?",
            opts.echo,
            |s| {
                let t = s.to_lowercase();
                match t.as_str() {
                    "l1" | "l2" | "origin" => Ok(t),
                    _ => Err(format!("{s:?}: answer l1, l2 or origin")),
                }
            },
        )?
        else {
            break;
        };
        let first = run(&scenario, &RunPlan::default(), &Progress::hidden())
            .map_err(io::Error::other)?
            .report;
        let Some(answer) = answer_of(&first) else {
            writeln!(
                out,
                "  (this scenario has no single most common code; no points)"
            )?;
            continue;
        };
        score.asked += 2;
        let code_ok = code == answer.code;
        let tier_ok = tier == answer.tier;
        score.right += code_ok as u32 + tier_ok as u32;
        writeln!(
            out,
            "\n  {} {} of {} visitors got {} {}; {} you said {code}.",
            if code_ok { "✔" } else { "✘" },
            answer.count,
            first.requests,
            answer.code,
            meaning(answer.code),
            if code_ok { "right:" } else { "not quite:" }
        )?;
        writeln!(
            out,
            "  {} it was generated by {}; you said {tier}.",
            if tier_ok { "✔" } else { "✘" },
            answer.tier
        )?;
        // The story worth telling is an error's: the answer's if it is one, else the most
        // common error's.
        let story = if answer.code >= 400 {
            Some(answer.code)
        } else {
            first
                .status
                .iter()
                .filter(|(c, _)| c.0 >= 400)
                .map(|(c, n)| (*n, c.0))
                .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
                .map(|(_, c)| c)
        };
        let shown_code = story.unwrap_or(answer.code);
        let shown = run(
            &scenario,
            &RunPlan {
                trace: 1,
                trace_status: Some(shown_code),
                collect: false,
            },
            &Progress::hidden(),
        )
        .map_err(io::Error::other)?;
        if shown_code == answer.code {
            writeln!(out, "\n  The first request that got {}:\n", answer.code)?;
        } else {
            writeln!(
                out,
                "\n  The others: {} got {shown_code}. The first of them:\n",
                first.count(shown_code)
            )?;
        }
        for line in traces_to_text(&shown.traces).lines() {
            writeln!(out, "  {line}")?;
        }
        if let Some(p) = explain::propagation(shown_code) {
            writeln!(out, "{}\n", crate::report::wrap(p, 92, "  "))?;
        }
        if explain::lookup(shown_code).is_some() {
            let page = explain::page(shown_code)
                .map(|p| format!(" · {p}"))
                .unwrap_or_default();
            writeln!(out, "  Read more: cdn-sim explain {shown_code}{page}")?;
        }
        writeln!(
            out,
            "  See it as a page: cdn-sim run {name} --html {name}.html"
        )?;
    }
    writeln!(out, "\nScore: {} of {}.", score.right, score.asked)?;
    Ok(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_blanks_codes_and_their_names() {
        let r = redact("generates 522 \"Connection timed out\" — not 521; 19 s, 1000 requests");
        assert!(!r.contains("522") && !r.contains("521"), "{r}");
        assert!(!r.to_lowercase().contains("connection timed out"), "{r}");
        assert!(r.contains("19 s") && r.contains("1000"), "{r}");
    }

    #[test]
    fn a_piped_round_scores_both_answers() {
        let opts = QuizOptions {
            rounds: 1,
            seed: 0,
            scenario: Some("firewall-drop".into()),
            echo: false,
        };
        let mut out = Vec::new();
        let score = play(&mut &b"522\nl2\n"[..], &mut out, &opts).unwrap();
        assert_eq!(score, Score { right: 2, asked: 2 });
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("SYN dropped"), "{text}");
    }
}
