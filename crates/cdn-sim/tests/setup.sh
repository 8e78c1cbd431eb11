#!/usr/bin/env bash
# Installs what cdn-sim's tests need beyond Rust: Chromium (Debian's `chromium` package), which
# tests/html_chromium.rs runs headless to render the HTML reports and SVG pictures, check that
# the page logs no console error and is not blank, and save screenshots. Only root can install
# it; anyone else gets a note here and a loud "SKIPPED: ..." from the test.
set -u
have() { command -v "$1" >/dev/null 2>&1; }

if have chromium || have chromium-browser || have google-chrome; then
  echo "cdn-sim setup: chromium present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "cdn-sim setup: not root and no chromium; tests/html_chromium.rs will print SKIPPED"
  exit 0
fi
if ! have apt-get; then
  echo "cdn-sim setup: no chromium and no apt-get; tests/html_chromium.rs will print SKIPPED"
  exit 0
fi
echo "cdn-sim setup: installing chromium"
if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
  echo "cdn-sim setup: done"
else
  echo "cdn-sim setup: could not install chromium; tests/html_chromium.rs will print SKIPPED"
fi
exit 0
