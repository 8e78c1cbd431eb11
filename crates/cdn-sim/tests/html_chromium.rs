//! What a person looks at, rendered by a real browser: `cdn-sim run … --html` reports for
//! three built-ins, each opened in headless Chromium, which must log nothing to the console
//! (the page has no script, so any console line is an error: a blocked fetch, a CSP
//! violation, a parse error) and draw a page that is not blank. Screenshots are saved under
//! the test's temporary directory.
//!
//! With `UPDATE_SCREENSHOTS=1` the test also renders a sweep plot and a sequence diagram
//! from `docs/errors/`, and copies one screenshot of each kind of page to `docs/img/` (the
//! README's pictures). Every SVG is also checked to be well-formed XML by `tests/pictures.rs`,
//! without a browser.
//!
//! Needs Chromium (`crates/cdn-sim/tests/setup.sh` installs Debian's `chromium`, and
//! `.ci/run` calls it); without it the test prints SKIPPED.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The page background in the report's CSS (`#f4f6f8`); rows of it at the bottom of a
/// screenshot are cut off.
const PAGE_BG: [u8; 3] = [0xf4, 0xf6, 0xf8];
/// Chromium gets this long per page before the test fails: its start-up takes ~2 s on an
/// idle machine, and the machine this runs on is shared by several builds.
const PER_PAGE: Duration = Duration::from_secs(90);

fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            if out.status.success() {
                let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !p.is_empty() {
                    return Some(PathBuf::from(p));
                }
            }
        }
    }
    None
}

fn cdn_sim(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_cdn-sim"))
        .args(args)
        .output()
        .expect("cdn-sim runs");
    assert!(
        out.status.success(),
        "cdn-sim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Renders `page` to `png` in a window `width` wide; returns the console lines it logged.
fn screenshot(browser: &Path, page: &Path, png: &Path, width: u32, height: u32) -> Vec<String> {
    let profile = tempdir("chromium-profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "chromium failed on {}", page.display());
            break;
        }
        if started.elapsed() > PER_PAGE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took more than {PER_PAGE:?} on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = reader.join().expect("reader");
    let _ = std::fs::remove_dir_all(&profile);
    log.lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
}

fn tempdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Image {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

fn read_png(path: &Path) -> Image {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("the screenshot exists"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let rgb = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Image {
        width: info.width as usize,
        height: info.height as usize,
        rgb,
    }
}

fn write_png(path: &Path, img: &Image, rows: usize) {
    let file = std::fs::File::create(path).expect("writable");
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), img.width as u32, rows as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().expect("header");
    let data: Vec<u8> = img.rgb[..img.width * rows]
        .iter()
        .flatten()
        .copied()
        .collect();
    w.write_image_data(&data).expect("pixels");
}

/// Checks the picture is a page and not a blank or an error screen, and returns the number
/// of rows down to the last one that is not all `background`.
fn check_not_blank(img: &Image, background: [u8; 3], what: &str) -> usize {
    let differs = img
        .rgb
        .iter()
        .filter(|p| **p != background && **p != [255; 3])
        .count();
    let mut colours: Vec<[u8; 3]> = img.rgb.clone();
    colours.sort_unstable();
    colours.dedup();
    // A blank page is one colour; an error page a few greys. The reports draw charts in a
    // dozen colours with anti-aliased text: hundreds of distinct colours.
    assert!(
        colours.len() > 50,
        "{what}: only {} colours: blank?",
        colours.len()
    );
    // At least 2 % of the pixels are ink (not page or panel background).
    assert!(
        differs * 50 > img.rgb.len(),
        "{what}: {differs} of {} pixels drawn: blank?",
        img.rgb.len()
    );
    let last = (0..img.height)
        .rev()
        .find(|y| {
            img.rgb[y * img.width..(y + 1) * img.width]
                .iter()
                .any(|p| *p != background)
        })
        .unwrap_or(0);
    (last + 24).min(img.height)
}

#[test]
fn reports_and_pictures_render_in_chromium_without_console_errors() {
    let Some(browser) = chromium() else {
        // Past the test harness's output capture, so a passing run shows it.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: chromium not installed; run crates/cdn-sim/tests/setup.sh as root (CI does)"
        );
        return;
    };
    let dir = tempdir("html");
    let update = std::env::var_os("UPDATE_SCREENSHOTS").is_some();
    let docs_img: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "docs", "img"]
        .iter()
        .collect();
    let started = Instant::now();
    // (page, window height, background, screenshot name in docs/img when committed)
    let mut pages: Vec<(PathBuf, u32, [u8; 3], Option<&str>)> = Vec::new();
    for (name, committed) in [
        (
            "origin-down-mid-run",
            Some("report-origin-down-mid-run.png"),
        ),
        ("whitelist-rotating-pool", None),
        ("l2-dies-with-l1-copies", None),
    ] {
        let html = dir.join(format!("{name}.html"));
        cdn_sim(&["run", name, "--html", html.to_str().unwrap()]);
        pages.push((html, 5200, PAGE_BG, committed));
    }
    let plot = dir.join("sweep.svg");
    if update {
        cdn_sim(&[
            "sweep",
            "alibaba-security-503",
            "--set",
            "origin.limit_req.rate=10r/s,20r/s,40r/s,80r/s",
            "--set",
            "origin.workers=2,8",
            "--jobs",
            "2",
            "--plot",
            plot.to_str().unwrap(),
        ]);
    }
    if update {
        pages.push((plot, 900, [255; 3], Some("sweep-alibaba-security-503.png")));
        let diagram: PathBuf = [
            env!("CARGO_MANIFEST_DIR"),
            "..",
            "..",
            "docs",
            "errors",
            "img",
            "522.svg",
        ]
        .iter()
        .collect();
        let copy = dir.join("sequence-522.svg");
        std::fs::copy(&diagram, &copy).unwrap();
        pages.push((copy, 900, [255; 3], Some("sequence-522.png")));
    }

    for (page, height, background, committed) in &pages {
        let png = page.with_extension("png");
        let console = screenshot(&browser, page, &png, 1100, *height);
        assert!(
            console.is_empty(),
            "{}: console output:\n{}",
            page.display(),
            console.join("\n")
        );
        let img = read_png(&png);
        let rows = check_not_blank(&img, *background, &page.display().to_string());
        write_png(&png, &img, rows);
        eprintln!("saved {} ({}×{rows})", png.display(), img.width);
        if let (true, Some(name)) = (update, committed) {
            std::fs::create_dir_all(&docs_img).unwrap();
            std::fs::copy(&png, docs_img.join(name)).unwrap();
        }
    }
    eprintln!(
        "{} pages rendered in {:.1} s",
        pages.len(),
        started.elapsed().as_secs_f64()
    );
}
