//! The body of an error a tier generated, as the profile's vendor would serve it: rendered
//! from [`ErrorFacts`] (which the core decides) as HTML — Cloudflare's branded page with its
//! three boxes, nginx's plain page, Varnish's "Guru Meditation", … — or as JSON when the
//! client asks for `application/json`. Pure functions: the driver supplies the request id,
//! the time and the node's name.
//!
//! The pages are written for this project (wording and markup); they reproduce what each
//! vendor's page tells a visitor, not its assets.

use cdn_core::profile::{ErrorFacts, Place};
use cdn_core::{FailureKind, Profile};
use serde::Serialize;
use std::fmt::Write;

/// What the driver knows about the request an error page answers.
#[derive(Clone, Copy, Debug)]
pub struct PageContext<'a> {
    /// The request's id (Cloudflare's "Ray ID", Varnish's XID, CloudFront's request id).
    pub request_id: &'a str,
    /// When the page was generated, as an HTTP date.
    pub time: &'a str,
    /// The node serving the page.
    pub node: &'a str,
    /// The origin's hostname ("Host" on Cloudflare's page).
    pub host: &'a str,
}

/// The media type of a rendered page.
pub const HTML: &str = "text/html; charset=utf-8";
/// The media type of a JSON error.
pub const JSON: &str = "application/json";

/// Where the project's page for a code lives, from the package's repository URL.
fn docs_url(facts: &ErrorFacts) -> String {
    format!(
        "{}/blob/main/{}",
        env!("CARGO_PKG_REPOSITORY"),
        facts.docs_page()
    )
}

/// Whether an `Accept` header prefers JSON to HTML: `application/json` listed, and no
/// `text/html` before it (a browser's `Accept` lists `text/html` first).
///
/// ```
/// use cdn_net::error_page::wants_json;
/// assert!(wants_json("application/json"));
/// assert!(!wants_json("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
/// assert!(!wants_json("*/*"));
/// ```
pub fn wants_json(accept: &str) -> bool {
    // Asked on every request: a plain scan of a short header (`*/*` is three bytes), not
    // `str::find`, whose searcher costs more to set up than this whole search.
    let find = |needle: &[u8]| {
        accept
            .as_bytes()
            .windows(needle.len())
            .position(|w| w == needle)
    };
    let json = find(b"application/json");
    let html = find(b"text/html");
    match (json, html) {
        (Some(j), Some(h)) => j < h,
        (Some(_), None) => true,
        _ => false,
    }
}

/// What the hop's mark says: the failure in a few words.
fn cause(facts: &ErrorFacts) -> String {
    if facts.hop.from == facts.hop.to {
        return "shutting down".to_string();
    }
    match facts.hop.failure {
        Some(FailureKind::Certificate(p)) => {
            format!("certificate rejected: {}", p.as_str().replace('_', " "))
        }
        Some(k) => k.short().to_string(),
        None => "failed".to_string(),
    }
}

#[derive(Serialize)]
struct JsonError<'a> {
    #[serde(flatten)]
    facts: &'a ErrorFacts,
    /// The failed hop in words.
    cause: String,
    request_id: &'a str,
    time: &'a str,
    node: &'a str,
    docs: String,
}

/// The JSON object for `facts`: the same facts as the HTML page.
pub fn json(facts: &ErrorFacts, ctx: &PageContext<'_>) -> String {
    let body = JsonError {
        facts,
        cause: cause(facts),
        request_id: ctx.request_id,
        time: ctx.time,
        node: ctx.node,
        docs: docs_url(facts),
    };
    serde_json::to_string_pretty(&body).unwrap_or_else(|_| "{}".to_string())
}

/// The HTML page `facts.profile`'s vendor serves for this error.
pub fn html(facts: &ErrorFacts, ctx: &PageContext<'_>) -> String {
    match facts.profile {
        Profile::Cloudflare => cloudflare(facts, ctx),
        Profile::Nginx => plain(facts, "nginx"),
        // RFC 9111 names no vendor: the plain page a standards-following proxy serves.
        Profile::Rfc9111 => plain(facts, "cdn-sim"),
        // Alibaba Cloud CDN runs Tengine, nginx's fork: the same plain page, its own footer.
        Profile::Alibaba => plain(facts, "Tengine"),
        Profile::Cloudfront => cloudfront(facts, ctx),
        Profile::Fastly => guru(facts, ctx, "Guru Mediation", "Details: cache-"),
        Profile::Varnish => guru(facts, ctx, "Guru Meditation", "XID: "),
    }
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// nginx (and Tengine): a title, a heading, a rule, and the server's name.
fn plain(f: &ErrorFacts, server: &str) -> String {
    let line = format!("{} {}", f.status, f.phrase);
    format!(
        "<!DOCTYPE html>\n<html>\n<head><title>{line}</title></head>\n<body>\n\
         <h1 style=\"text-align:center\">{line}</h1>\n<hr>\n\
         <p style=\"text-align:center\">{server}</p>\n</body>\n</html>\n"
    )
}

/// Varnish's synthetic error (and Fastly's, which grew from it): "Error NNN reason",
/// the reason again, "Guru Meditation" with the request's id, and the server's name.
fn guru(f: &ErrorFacts, ctx: &PageContext<'_>, meditation: &str, id_label: &str) -> String {
    let title = esc(f.title);
    let id = if id_label.starts_with("Details") {
        format!("{id_label}{} {}", esc(ctx.node), esc(ctx.request_id))
    } else {
        format!("{id_label}{}", esc(ctx.request_id))
    };
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<title>{status} {title}</title>\n</head>\n<body>\n\
         <h1>Error {status} {title}</h1>\n<p>{title}</p>\n<h3>{meditation}:</h3>\n\
         <p>{id}</p>\n<hr>\n<p>Varnish cache server</p>\n</body>\n</html>\n",
        status = f.status,
    )
}

/// CloudFront: "ERROR — The request could not be satisfied", a sentence on the cause, and
/// the request id.
fn cloudfront(f: &ErrorFacts, ctx: &PageContext<'_>) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\">\
         <title>ERROR: The request could not be satisfied</title></head>\n<body>\n\
         <h1>{status} ERROR</h1>\n<h2>The request could not be satisfied.</h2>\n<hr>\n\
         <p>{title} We can't connect to the server for this app or website at this time. \
         There might be too much traffic or a configuration error. Try again later, or contact \
         the app or website owner.</p>\n\
         <p>If you provide content to customers through CloudFront, you can find steps to \
         troubleshoot and help prevent this error in the CloudFront documentation.</p>\n<hr>\n\
         <pre>Generated by cloudfront (CloudFront) at {node}\nRequest ID: {id}</pre>\n\
         </body>\n</html>\n",
        status = f.status,
        title = esc(f.title),
        node = esc(ctx.node),
        id = esc(ctx.request_id),
    )
}

/// One box of Cloudflare's diagram: its state, icon, name and caption.
fn cf_box(out: &mut String, ok: Option<bool>, place: &str, name: &str, detail: &str) {
    let (class, state, icon) = match ok {
        Some(true) => ("ok", "Working", "&#10003;"),
        Some(false) => ("err", "Error", "&#10007;"),
        None => ("unknown", "Unknown", "?"),
    };
    let _ = write!(
        out,
        "<div class=\"box {class}\" data-place=\"{place}\" data-state=\"{class}\">\
         <div class=\"icon\">{icon}</div><div class=\"who\">{name}</div>\
         <div class=\"place\">{place}</div><div class=\"state\">{state}</div>\
         <div class=\"detail\">{detail}</div></div>"
    );
}

/// One arrow of Cloudflare's diagram: marked when this hop failed.
fn cf_hop(out: &mut String, failed: bool, label: &str) {
    let (class, text) = if failed {
        ("hop failed", format!("&#10007; {}", esc(label)))
    } else {
        ("hop", "&#8594;".to_string())
    };
    let _ = write!(
        out,
        "<div class=\"{class}\" data-failed=\"{failed}\">{text}</div>"
    );
}

const CF_STYLE: &str = "body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',\
Helvetica,Arial,sans-serif;color:#313131;background:#fff}\
header{padding:32px 48px 16px;border-bottom:1px solid #e5e5e5}\
h1{margin:0;font-size:40px;font-weight:300}h1 .code{font-weight:600}\
.sub{color:#777;margin-top:6px}\
.diagram{display:flex;align-items:center;justify-content:center;gap:8px;padding:28px 24px;\
background:#f6f6f6;border-bottom:1px solid #e5e5e5}\
.box{width:200px;text-align:center}.icon{margin:0 auto 8px;width:56px;height:56px;\
border-radius:50%;font-size:32px;line-height:56px;color:#fff}\
.ok .icon{background:#2f9e44}.err .icon{background:#d9480f}.unknown .icon{background:#adb5bd}\
.who{font-size:13px;color:#777}.place{font-size:20px}.state{font-weight:600}\
.ok .state{color:#2f9e44}.err .state{color:#d9480f}.unknown .state{color:#868e96}\
.detail{font-size:12px;color:#666;min-height:1em}\
.hop{font-size:28px;color:#999;width:90px;text-align:center}\
.hop.failed{font-size:13px;color:#d9480f;font-weight:600;border-top:3px dashed #d9480f;\
padding-top:6px;width:140px}\
main{display:flex;gap:48px;padding:24px 48px}main section{flex:1}\
h2{font-size:22px;font-weight:400;margin:0 0 8px}h3{font-size:15px;margin:14px 0 4px}\
p{line-height:1.5;margin:0 0 8px}\
footer{padding:16px 48px;border-top:1px solid #e5e5e5;color:#777;font-size:13px}\
footer span{margin-right:18px}a{color:#1c6dd0}";

/// Cloudflare's 5xx page, in this project's words: the code and title, the three boxes
/// (Browser → Cloudflare → Host) with the failed hop marked, "What happened? / What can I
/// do?" for visitor and site owner, and the request id and time.
fn cloudflare(f: &ErrorFacts, ctx: &PageContext<'_>) -> String {
    let mut d = String::new();
    let cause = cause(f);
    // Where the fault is: after the edge (inside the CDN: the hop to its parent tier) or
    // after the shield (the hop to the host).
    let inside = f.failed_after(Place::Edge);
    cf_box(&mut d, Some(true), "Browser", "You", "");
    cf_hop(&mut d, false, "");
    let cdn_detail = if f.hop.from == f.hop.to {
        format!("{} is shutting down", esc(ctx.node))
    } else if inside {
        format!("edge {} &#8594; shield: {}", esc(ctx.node), esc(&cause))
    } else {
        format!(
            "generated by the {} tier",
            f.generated_by.as_str().to_uppercase()
        )
    };
    cf_box(
        &mut d,
        Some(!inside),
        "Cloudflare",
        &esc(ctx.node),
        &cdn_detail,
    );
    cf_hop(&mut d, !inside, &cause);
    let host_state = if inside { None } else { Some(false) };
    let host_detail = if inside { "not reached" } else { "" };
    cf_box(&mut d, host_state, "Host", &esc(ctx.host), host_detail);
    let a = &f.advice;
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{host} | {status}: {title}</title>\n<style>{CF_STYLE}</style>\n</head>\n<body>\n\
         <header><h1><span class=\"code\">Error {status}</span> {title}</h1>\n\
         <div class=\"sub\">{time} &middot; {phrase}</div></header>\n\
         <div class=\"diagram\" data-failed-hop=\"{from:?}-{to:?}\">{d}</div>\n\
         <main>\n<section><h2>What happened?</h2><p>{happened}</p>\
         <p>The failed hop: <b>{cause}</b>.</p></section>\n\
         <section><h2>What can I do?</h2><h3>If you are a visitor of this website:</h3>\
         <p>{visitor}</p><h3>If you are the owner of this website:</h3><p>{owner}</p>\
         <p>More on this code: <a href=\"{docs}\">{page}</a> (or <code>cdn-sim explain \
         {status}</code>).</p></section>\n</main>\n\
         <footer><span>Request ID: <b class=\"request-id\">{id}</b></span>\
         <span>{time}</span><span>Served by {node} (cdn-sim, cloudflare profile)</span>\
         </footer>\n</body>\n</html>\n",
        host = esc(ctx.host),
        status = f.status,
        title = esc(f.title),
        time = esc(ctx.time),
        phrase = esc(f.phrase),
        from = f.hop.from,
        to = f.hop.to,
        happened = esc(a.what_happened),
        cause = esc(&cause),
        visitor = esc(a.visitor),
        owner = esc(a.owner),
        docs = esc(&docs_url(f)),
        page = esc(&f.docs_page()),
        id = esc(ctx.request_id),
        node = esc(ctx.node),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdn_core::{Response, Tier};

    fn facts(profile: Profile, tier: Tier, status: u16, kind: FailureKind) -> ErrorFacts {
        let mut r = Response::generated(tier, status, "Web server is down");
        r.failure = Some(kind);
        ErrorFacts::of(profile, &r).unwrap()
    }

    const CTX: PageContext<'static> = PageContext {
        request_id: "8f2a",
        time: "Tue, 01 Dec 2026 04:00:00 GMT",
        node: "edge-1",
        host: "www.example.com",
    };

    #[test]
    fn cloudflare_marks_the_host_hop_for_a_shield_generated_521() {
        let f = facts(Profile::Cloudflare, Tier::L2, 521, FailureKind::Refused);
        let page = html(&f, &CTX);
        assert!(page.contains("Error 521</span> Web server is down"));
        assert!(page.contains("data-failed-hop=\"Shield-Host\""));
        assert!(page.contains("&#10007; connection refused"));
        assert!(page.contains("data-place=\"Host\" data-state=\"err\""));
        assert!(page.contains("8f2a"));
        assert!(page.contains("docs/errors/521.md"));
    }

    #[test]
    fn cloudflare_marks_the_cdn_box_when_the_edge_generated_it() {
        let f = facts(
            Profile::Cloudflare,
            Tier::L1,
            522,
            FailureKind::ConnectTimeout,
        );
        let page = html(&f, &CTX);
        assert!(page.contains("data-place=\"Cloudflare\" data-state=\"err\""));
        assert!(page.contains("data-place=\"Host\" data-state=\"unknown\""));
    }

    #[test]
    fn nginx_and_varnish_pages_are_their_plain_selves() {
        let f = facts(Profile::Nginx, Tier::L2, 502, FailureKind::Refused);
        let page = html(&f, &CTX);
        assert!(page.contains("<h1 style=\"text-align:center\">502 Bad Gateway</h1>"));
        assert!(page.contains(">nginx</p>"));
        let f = facts(Profile::Varnish, Tier::L2, 503, FailureKind::Refused);
        assert!(html(&f, &CTX).contains("Guru Meditation:"));
    }

    #[test]
    fn a_request_cut_off_at_shutdown_blames_no_hop() {
        let r = Response::generated(Tier::L1, 503, cdn_core::profile::SHUTTING_DOWN);
        let f = ErrorFacts::of(Profile::Cloudflare, &r).unwrap();
        let page = html(&f, &CTX);
        assert!(page.contains("edge-1 is shutting down"));
        assert!(page.contains("data-place=\"Host\" data-state=\"unknown\""));
        assert!(f.advice.what_happened.contains("shutting down"));
    }

    #[test]
    fn json_carries_the_same_facts() {
        let f = facts(Profile::Cloudflare, Tier::L2, 521, FailureKind::Refused);
        let v: serde_json::Value = serde_json::from_str(&json(&f, &CTX)).unwrap();
        assert_eq!(v["status"], 521);
        assert_eq!(v["phrase"], "Web Server Is Down");
        assert_eq!(v["generated_by"], "l2");
        assert_eq!(v["hop"]["from"], "shield");
        assert_eq!(v["hop"]["to"], "host");
        assert_eq!(v["hop"]["failure"], "refused");
        assert_eq!(v["cause"], "connection refused");
        assert_eq!(v["request_id"], "8f2a");
    }
}
