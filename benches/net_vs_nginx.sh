#!/usr/bin/env bash
# cdn-net vs an nginx proxy_cache hierarchy, side by side, on loopback.
#
#   benches/net_vs_nginx.sh [--out FILE]
#
# Every system is the same two-tier shape: L1 edge cache -> L2 shield cache -> origin, every
# hop over real loopback sockets, HTTP/1.1 with keep-alive between tiers, and the SAME origin:
# one nginx serving real static files of 1 KiB and 100 KiB from a temp dir, in its own process.
#
#   nginx:        two nginx instances (L1, L2), each worker_processes 2, access_log off,
#                 sendfile on, tcp_nopush off, upstream keepalive 64 (proxy_http_version 1.1,
#                 Connection ""), proxy_cache with its own zone, cache files on disk (/tmp).
#   nginx-tmpfs:  the same, with proxy_cache_path on tmpfs (/dev/shm): nginx serves its cache
#                 from files, cdn-net from memory; on tmpfs both are in memory.
#   cdn-net:      `cdn-sim proxy --upstream <the nginx origin> --profile nginx`: one process,
#                 both tiers, a real upstream in its own process as nginx's is.
#
# Cases:
#   (a) L1 hit, 1 KiB     (b) L1 hit, 100 KiB
#   (c) full miss, 1 KiB: every request goes L1 -> L2 -> origin (the origin sends
#       Cache-Control: no-store in both systems)
#
# Per case and system: warm with curl (and check the response: status, size, HIT/MISS), then
# ROUNDS x `wrk -tTHREADS -cCONNS -dDURATION --latency`, rounds of the three systems
# interleaved. Reported, per case and nginx variant: median req/s, median p99 latency,
# cdn-net/nginx ratios, median CPU time per request of each system's two cache tiers (user and
# system, from /proc: less sensitive than req/s to other work on the machine), and the non-2xx
# responses and socket errors wrk saw (summed over rounds). Target (issue 10): cdn-net >= 1.2x nginx's req/s with p99 <= nginx's, every row.
#
# Environment:
#   DURATION=10s  ROUNDS=3  THREADS=2  CONNS=64    wrk settings (smoke run: DURATION=2s ROUNDS=1)
#   BENCH_TIMEOUT=<seconds>                         overall guard (default: computed from the above)
#   SKIP_BUILD=1                                    do not run `cargo build --release -p cdn-sim`
#   CDN_THREADS=<n>                                 `cdn-sim proxy --threads n` (default: the proxy's, two per core)
#   RAW_DIR=<dir>                                   keep every wrk output there
#   CARGO_TARGET_DIR                                where cdn-sim is built (default: <repo>/target)
#
# Needs: curl; nginx and wrk are installed with apt-get when missing (root). Network: loopback
# only (127.0.0.0/8). Every process it starts is stopped by an EXIT trap; temp dirs are removed.

set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
OUT=""
ARGS=("$@")

usage() { sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=${2:?--out needs a file}; shift 2 ;;
        --out=*) OUT=${1#--out=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "net_vs_nginx: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done

to_seconds() { # wrk's duration syntax: 10, 10s, 2m, 1h
    local d=$1
    case "$d" in
        *h) echo $(( ${d%h} * 3600 )) ;;
        *m) echo $(( ${d%m} * 60 )) ;;
        *s) echo "${d%s}" ;;
        *) echo "$d" ;;
    esac
}
DUR_S=$(to_seconds "$DURATION")
[[ "$DUR_S" =~ ^[0-9]+$ && "$DUR_S" -ge 1 ]] || { echo "net_vs_nginx: bad DURATION=$DURATION" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 ]] || { echo "net_vs_nginx: bad ROUNDS=$ROUNDS" >&2; exit 2; }

# ---- overall timeout guard: re-run this script under timeout(1) --------------------------------
# 3 cases x 3 systems x ROUNDS wrk runs of DURATION each, plus warm-up/start-up per run, plus room
# for apt-get and a release build of cdn-sim.
if [ -z "${NET_VS_NGINX_GUARDED:-}" ]; then
    export NET_VS_NGINX_GUARDED=1
    limit=${BENCH_TIMEOUT:-$(( 3 * 3 * ROUNDS * (DUR_S + 20) + 1800 ))}
    # The inner timeouts below use --foreground so that they stay in this process group and the
    # guard's signal reaches wrk, apt-get and cargo too.
    exec timeout --kill-after=20 "$limit" "$BASH" "$0" "${ARGS[@]}"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CDN_SIM=$TARGET_DIR/release/cdn-sim

log() { echo "[net_vs_nginx] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- cleanup --------------------------------------------------------------------------------------
TMP=""
NGINX_PIDS=()   # nginx master pids (daemon off, started by us)
CDN_PID=""      # the running `cdn-sim proxy`

wait_gone() { # pid seconds
    local pid=$1 i
    for (( i = 0; i < $2 * 10; i++ )); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

stop_cdn() {
    [ -n "$CDN_PID" ] || return 0
    if kill -0 "$CDN_PID" 2>/dev/null; then
        kill -INT "$CDN_PID" 2>/dev/null || true          # graceful: proxy stops on SIGINT
        wait_gone "$CDN_PID" 6 || { log "cdn-sim proxy ($CDN_PID) ignored SIGINT; killing"; kill -KILL "$CDN_PID" 2>/dev/null || true; }
    fi
    wait "$CDN_PID" 2>/dev/null || true
    CDN_PID=""
}

stop_nginx() {
    local pid workers
    for pid in "${NGINX_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || continue
        workers=$(pgrep -P "$pid" || true)
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 5; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        for w in $workers; do kill -KILL "$w" 2>/dev/null || true; done
        wait "$pid" 2>/dev/null || true
    done
    NGINX_PIDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    stop_cdn
    stop_nginx
    [ -n "$TMP" ] && rm -rf "$TMP"
    [ -n "$SHM" ] && rm -rf "$SHM"
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated (overall timeout?)"; exit 143' TERM HUP

# ---- tools ----------------------------------------------------------------------------------------
need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing ${need_apt[*]}; install them or run as root"
    log "installing ${need_apt[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    timeout --foreground 600 apt-get update -qq >/dev/null
    timeout --foreground 600 apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # Debian's package starts a system nginx on :80; we do not use it.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
        systemctl stop nginx || true
    fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WRK=$(command -v wrk)

if [ -z "${SKIP_BUILD:-}" ]; then
    log "building cdn-sim (release)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR timeout --foreground 1800 cargo build --release -q -p cdn-sim)
fi
[ -x "$CDN_SIM" ] || die "$CDN_SIM not found (build it or unset SKIP_BUILD)"

TMP=$(mktemp -d /tmp/net_vs_nginx.XXXXXX)
chmod 755 "$TMP"
[ -n "${RAW_DIR:-}" ] && mkdir -p "$RAW_DIR"

# ---- nginx hierarchy ------------------------------------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
pick_port() { # ip -> a port nothing listens on
    local p
    for (( p = 18080; p < 18180; p++ )); do port_free "$1" "$p" && { echo "$p"; return; }; done
    die "no free port on $1"
}
NGX_L1=127.0.77.1 NGX_L2=127.0.77.2 NGX_OR=127.0.77.3
P_L1=$(pick_port $NGX_L1) P_L2=$(pick_port $NGX_L2) P_OR=$(pick_port $NGX_OR)
SHM_L1=127.0.77.4 SHM_L2=127.0.77.5
P_SHM_L1=$(pick_port $SHM_L1) P_SHM_L2=$(pick_port $SHM_L2)
CDN_IP=127.0.78.1
P_CDN=$(pick_port $CDN_IP)
SHM=""

mkdir -p "$TMP/www/assets"
head -c 1024 /dev/urandom >"$TMP/www/assets/1k.png"
head -c 102400 /dev/urandom >"$TMP/www/assets/100k.png"
chmod -R a+rX "$TMP/www"

common_conf() { # tier-dir
    local d=$1
    [ "$(id -u)" -eq 0 ] && echo "user root;"
    cat <<EOF
worker_processes 2;
worker_rlimit_nofile 16384;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 8192; }
EOF
}

http_common() { # tier-dir
    cat <<EOF
    access_log off;
    sendfile on;
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

cache_tier_conf() { # name dir listen-ip listen-port upstream-ip upstream-port [cache-dir]
    local name=$1 d=$2 cache=${7:-$2/cache}
    common_conf "$d"
    cat <<EOF
http {
$(http_common "$d")
    proxy_cache_path $cache levels=1:2 keys_zone=$name:16m max_size=1g inactive=60m use_temp_path=off;
    upstream up_$name {
        server $5:$6;
        keepalive 64;
        keepalive_requests 100000;
    }
    server {
        listen $3:$4 backlog=4096;
        location / {
            proxy_pass http://up_$name;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache $name;
            add_header X-Cache-$name \$upstream_cache_status always;
        }
    }
}
EOF
}

origin_conf() { # dir
    local d=$1
    common_conf "$d"
    cat <<EOF
http {
$(http_common "$d")
    server {
        listen $NGX_OR:$P_OR backlog=4096;
        root $TMP/www;
        location /assets/ { add_header Cache-Control "max-age=3600"; }
        location /miss/   { alias $TMP/www/assets/; add_header Cache-Control "no-store"; }
    }
}
EOF
}

start_nginx() { # name conf-generator-args...
    local name=$1; shift
    local d=$TMP/nginx-$name
    mkdir -p "$d"
    chmod 755 "$d"
    "$@" >"$d/nginx.conf"
    "$NGINX" -t -q -e "$d/error.log" -p "$d" -c "$d/nginx.conf" || die "nginx $name: bad config ($d/nginx.conf)"
    "$NGINX" -e "$d/error.log" -p "$d" -c "$d/nginx.conf" &
    NGINX_PIDS+=("$!")
}

wait_listening() { # ip port what
    local i
    for (( i = 0; i < 100; i++ )); do
        port_free "$1" "$2" || return 0
        sleep 0.1
    done
    die "$3 is not listening on $1:$2"
}

log "starting nginx origin ($NGX_OR:$P_OR), L2 ($NGX_L2:$P_L2), L1 ($NGX_L1:$P_L1)"
start_nginx origin origin_conf "$TMP/nginx-origin"
start_nginx l2 cache_tier_conf l2 "$TMP/nginx-l2" $NGX_L2 "$P_L2" $NGX_OR "$P_OR"
start_nginx l1 cache_tier_conf l1 "$TMP/nginx-l1" $NGX_L1 "$P_L1" $NGX_L2 "$P_L2"
wait_listening $NGX_OR "$P_OR" "nginx origin"
wait_listening $NGX_L2 "$P_L2" "nginx L2"
wait_listening $NGX_L1 "$P_L1" "nginx L1"
SHM=$(mktemp -d /dev/shm/net_vs_nginx.XXXXXX)
chmod 755 "$SHM"
log "starting nginx-tmpfs L2 ($SHM_L2:$P_SHM_L2), L1 ($SHM_L1:$P_SHM_L1), caches in $SHM"
start_nginx shm-l2 cache_tier_conf shml2 "$TMP/nginx-shm-l2" $SHM_L2 "$P_SHM_L2" $NGX_OR "$P_OR" "$SHM/l2"
start_nginx shm-l1 cache_tier_conf shml1 "$TMP/nginx-shm-l1" $SHM_L1 "$P_SHM_L1" $SHM_L2 "$P_SHM_L2" "$SHM/l1"
wait_listening $SHM_L2 "$P_SHM_L2" "nginx-tmpfs L2"
wait_listening $SHM_L1 "$P_SHM_L1" "nginx-tmpfs L1"

# ---- cdn-net ----------------------------------------------------------------------------------------
# In front of the same nginx origin, with nginx's rules (profile nginx: proxy_cache_lock off,
# as the nginx tiers here).
CDN_URL=http://$CDN_IP:$P_CDN
start_cdn() {
    local log_file=$TMP/cdn-sim-proxy.log
    "$CDN_SIM" proxy --upstream "http://$NGX_OR:$P_OR" --profile nginx --listen "$CDN_IP:$P_CDN" \
        ${CDN_THREADS:+--threads "$CDN_THREADS"} >"$log_file" 2>&1 &
    CDN_PID=$!
    wait_listening $CDN_IP "$P_CDN" "cdn-sim proxy" || { cat "$log_file" >&2; exit 1; }
}

# ---- measuring ----------------------------------------------------------------------------------
# warm URL expect-size cache-header expect(HIT|MISS): 3 curl requests; the last one is checked.
warm() {
    local url=$1 size=$2 header=$3 expect=$4 i out code got hdr
    for (( i = 0; i < 3; i++ )); do
        out=$(curl -s -m 5 -o /dev/null -D - -w 'CURL %{http_code} %{size_download}\n' "$url") || die "curl $url failed"
    done
    code=$(awk '/^CURL /{print $2}' <<<"$out")
    got=$(awk '/^CURL /{print $3}' <<<"$out")
    hdr=$(grep -i "^$header:" <<<"$out" | tr -d '\r' | head -n1 || true)
    log "  warm $url -> $code, $got bytes, ${hdr:-no $header header}"
    [ "$code" = 200 ] || die "$url answered $code after warming"
    [ "$got" = "$size" ] || die "$url sent $got bytes, expected $size"
    case "$expect" in
        HIT) grep -qi 'HIT' <<<"$hdr" || die "$url is not a cache hit after warming ($hdr)" ;;
        MISS) ! grep -qi 'HIT' <<<"$hdr" || die "$url is a cache hit, expected a miss ($hdr)" ;;
    esac
}

to_ms() { # "3.45ms" | "812.00us" | "1.02s" -> milliseconds
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "nan" }'
}

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # pids... -> "user system" clock ticks of these processes and their children
    local p q u=0 s=0 a b
    for p in "$@"; do
        for q in "$p" $(pgrep -P "$p" || true); do
            read -r a b < <(awk '{print $14, $15}' "/proc/$q/stat" 2>/dev/null) || continue
            u=$(( u + ${a:-0} )); s=$(( s + ${b:-0} ))
        done
    done
    echo "$u $s"
}

# run_wrk URL tag pids... -> prints "rps p99_ms errors user_us sys_us" (errors = non-2xx/3xx +
# socket errors; user_us, sys_us = user and system CPU time of the given processes and their
# children — the system under test's two tiers — over the run, per request wrk completed)
run_wrk() {
    local url=$1 tag=$2 out rps p99 non2xx sock t0 t1 reqs cpu
    shift 2
    t0=$(cpu_ticks "$@")
    out=$(timeout --foreground $(( DUR_S + 30 )) "$WRK" -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$url" 2>&1) \
        || die "wrk $url failed: $out"
    t1=$(cpu_ticks "$@")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="${reqs:-0}" -v hz="$CLK_TCK" 'BEGIN {
        split(a, x, " "); split(b, y, " "); k = (n > 0) ? 1e6 / hz / n : 0
        printf "%.1f %.1f", (y[1] - x[1]) * k, (y[2] - x[2]) * k }')
    [ -n "${RAW_DIR:-}" ] && printf '%s\n' "$out" >"$RAW_DIR/$tag.txt"
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    sock=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' <<<"$out")
    [ -n "$rps" ] && [ -n "$p99" ] || die "cannot parse wrk output for $url: $out"
    p99=$(to_ms "$p99")
    echo "$rps $p99 $(( ${non2xx:-0} + ${sock:-0} )) $cpu"
    if [ -n "$non2xx$sock" ] && [ "$(( ${non2xx:-0} + ${sock:-0} ))" -gt 0 ]; then
        grep -E 'Non-2xx|Socket errors' <<<"$out" | sed "s#^#[net_vs_nginx]   $tag: #" >&2
    fi
}

median() { # numbers... -> median
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
        if (NR % 2) printf "%.3f", a[(NR + 1) / 2]; else printf "%.3f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

ROWS=()
row() { # label nginx-variant n_rps n_p99 c_rps c_p99 n_err c_err n_user n_sys c_user c_sys
    awk -v l="$1" -v v="$2" -v nr="$3" -v np="$4" -v cr="$5" -v cp="$6" -v ne="$7" -v ce="$8" \
        -v nu="$9" -v ns="${10}" -v cu="${11}" -v cs="${12}" 'BEGIN {
        rr = (nr > 0) ? cr / nr : 0; pr = (np > 0) ? cp / np : 0
        met = (rr >= 1.2 && pr <= 1.0) ? "yes" : "**no**"
        printf "| %s | %s | %.0f | %.0f | %.2f× | %.2f | %.2f | %.2f× | %.1f + %.1f | %.1f + %.1f | %s | %d / %d |", l, v, nr, cr, rr, np, cp, pr, nu, ns, cu, cs, met, ne, ce }'
}
measure_case() { # key label nginx-url nginx-tmpfs-url cdn-url
    local key=$1 label=$2 nurl=$3 surl=$4 curl_=$5 r line
    local -a n_rps=() n_p99=() s_rps=() s_p99=() c_rps=() c_p99=()
    local -a n_usr=() n_sys=() s_usr=() s_sys=() c_usr=() c_sys=()
    local n_err=0 s_err=0 c_err=0
    # CPU is counted for the two cache tiers of each system (nginx: L2 and L1 masters and
    # their workers; cdn-net: the one proxy process), not the shared origin.
    for (( r = 1; r <= ROUNDS; r++ )); do
        line=$(run_wrk "$nurl" "$key-nginx-$r" "${NGINX_PIDS[1]}" "${NGINX_PIDS[2]}"); read -r a b e cu cs <<<"$line"
        n_rps+=("$a"); n_p99+=("$b"); n_err=$(( n_err + e )); n_usr+=("$cu"); n_sys+=("$cs")
        log "  round $r nginx:       $a req/s, p99 $b ms, errors $e, CPU $cu + $cs µs/req"
        line=$(run_wrk "$surl" "$key-nginx-tmpfs-$r" "${NGINX_PIDS[3]}" "${NGINX_PIDS[4]}"); read -r a b e cu cs <<<"$line"
        s_rps+=("$a"); s_p99+=("$b"); s_err=$(( s_err + e )); s_usr+=("$cu"); s_sys+=("$cs")
        log "  round $r nginx-tmpfs: $a req/s, p99 $b ms, errors $e, CPU $cu + $cs µs/req"
        line=$(run_wrk "$curl_" "$key-cdn-net-$r" "$CDN_PID"); read -r a b e cu cs <<<"$line"
        c_rps+=("$a"); c_p99+=("$b"); c_err=$(( c_err + e )); c_usr+=("$cu"); c_sys+=("$cs")
        log "  round $r cdn-net:     $a req/s, p99 $b ms, errors $e, CPU $cu + $cs µs/req"
    done
    local cr cp cu cs
    cr=$(median "${c_rps[@]}"); cp=$(median "${c_p99[@]}")
    cu=$(median "${c_usr[@]}"); cs=$(median "${c_sys[@]}")
    ROWS+=("$(row "$label" "disk" "$(median "${n_rps[@]}")" "$(median "${n_p99[@]}")" "$cr" "$cp" "$n_err" "$c_err" \
        "$(median "${n_usr[@]}")" "$(median "${n_sys[@]}")" "$cu" "$cs")")
    ROWS+=("$(row "$label" "tmpfs" "$(median "${s_rps[@]}")" "$(median "${s_p99[@]}")" "$cr" "$cp" "$s_err" "$c_err" \
        "$(median "${s_usr[@]}")" "$(median "${s_sys[@]}")" "$cu" "$cs")")
}

# ---- run ------------------------------------------------------------------------------------------
NGX=http://$NGX_L1:$P_L1
cpu_busy() { # percent of all CPUs busy over the next 2 s (someone else's work, before we start)
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat); sleep 2
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
        busy = y[1] - x[1]; idle = y[2] - x[2]; printf "%.0f", (busy + idle > 0) ? 100 * busy / (busy + idle) : 0 }'
}
BUSY_BEFORE=$(cpu_busy)
[ "$BUSY_BEFORE" -gt 10 ] \
    && log "WARNING: the CPUs are ${BUSY_BEFORE}% busy before the run: something else is running and will skew the numbers"
log "wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS round(s) per case and system"

start_cdn
SHM_NGX=http://$SHM_L1:$P_SHM_L1

log "case (a) L1 hit, 1 KiB"
warm "$NGX/assets/1k.png" 1024 X-Cache-l1 HIT
warm "$SHM_NGX/assets/1k.png" 1024 X-Cache-shml1 HIT
warm "$CDN_URL/assets/1k.png" 1024 x-cache HIT
measure_case a "(a) L1 hit, 1 KiB" "$NGX/assets/1k.png" "$SHM_NGX/assets/1k.png" "$CDN_URL/assets/1k.png"

log "case (b) L1 hit, 100 KiB"
warm "$NGX/assets/100k.png" 102400 X-Cache-l1 HIT
warm "$SHM_NGX/assets/100k.png" 102400 X-Cache-shml1 HIT
warm "$CDN_URL/assets/100k.png" 102400 x-cache HIT
measure_case b "(b) L1 hit, 100 KiB" "$NGX/assets/100k.png" "$SHM_NGX/assets/100k.png" "$CDN_URL/assets/100k.png"

log "case (c) miss through L1 and L2 to the origin, 1 KiB"
warm "$NGX/miss/1k.png" 1024 X-Cache-l1 MISS
warm "$SHM_NGX/miss/1k.png" 1024 X-Cache-shml1 MISS
warm "$CDN_URL/miss/1k.png" 1024 x-cache MISS
measure_case c "(c) miss to origin, 1 KiB" "$NGX/miss/1k.png" "$SHM_NGX/miss/1k.png" "$CDN_URL/miss/1k.png"
stop_cdn

# ---- report ---------------------------------------------------------------------------------------
TABLE=$(
    echo "| case | nginx cache | nginx req/s | cdn-net req/s | req/s cdn-net/nginx | nginx p99 ms | cdn-net p99 ms | p99 cdn-net/nginx | nginx CPU µs/req (user + sys) | cdn-net CPU µs/req (user + sys) | target met | errors nginx / cdn-net |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|"
    printf '%s\n' "${ROWS[@]}"
)
NOTE="wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS round(s), medians; $(nproc) of $(nproc --all) cores (the run's CPU affinity) shared by wrk, nginx and cdn-net (CPU ${BUSY_BEFORE}% busy just before the run); $("$NGINX" -v 2>&1 | sed 's#.*/##;s#^#nginx #'), cdn-sim $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (proxy --threads ${CDN_THREADS:-default}). Target: req/s ratio ≥ 1.20× and p99 ratio ≤ 1.00×. CPU: user + system time of the two cache tiers (nginx L1 and L2 processes; the cdn-net proxy), not the origin, per request (medians of each). Errors: non-2xx responses + socket errors over all rounds."
echo
echo "$TABLE"
echo
echo "$NOTE"
if [ -n "$OUT" ]; then
    { echo "$TABLE"; echo; echo "$NOTE"; } >"$OUT"
    log "table written to $OUT"
fi
