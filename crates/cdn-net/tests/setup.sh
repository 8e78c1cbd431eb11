#!/usr/bin/env bash
# Installs what cdn-net's tests need: nftables (nft), iproute2 (ip) and util-linux (unshare)
# for the network-namespace tests; curl (tests/curl.rs, the real client) and nginx
# (tests/nginx_fidelity.rs, a real nginx origin). Only root can install them, and only root can run
# those tests; anyone else gets a note here and "SKIPPED: ..." lines from the tests. node and npm
# run the public HTTP-caching conformance suite (tests/conformance.rs).
set -u
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

if [ "$(id -u)" != 0 ]; then
  echo "cdn-net setup: not root; the namespace tests will print SKIPPED"
  exit 0
fi
missing=()
have nft || missing+=(nftables)
have ip || missing+=(iproute2)
have unshare || missing+=(util-linux)
have curl || missing+=(curl)
have nginx || missing+=(nginx)
have node || missing+=(nodejs)
have npm || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "cdn-net setup: nft, ip and unshare present"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "cdn-net setup: missing ${missing[*]} and no apt-get; the namespace tests will print SKIPPED"
  exit 0
fi
echo "cdn-net setup: installing ${missing[*]}"
if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
  echo "cdn-net setup: done"
else
  echo "cdn-net setup: could not install ${missing[*]}; the namespace tests will print SKIPPED"
fi
exit 0
