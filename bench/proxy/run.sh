#!/usr/bin/env bash
# Web proxy benchmark: requests per second and latency through schoolgate, e2guardian and
# Squid with squidGuard, against the same local origin and direct, each with the same
# blocklist (every domain of ../shared/data/blocklists), in one run.
#
#   bench/proxy/run.sh          (from the repository; installs wrk, e2guardian, squid, squidguard)
#
# Everything listens on 127.0.0.1; nothing leaves the machine. Runs as root (the peers drop
# to their own users, so the work directory is made readable to them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
lists=${SCHOOLGATE_BLOCKLISTS:-$repo/../shared/data/blocklists}
duration=${DURATION:-10}
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$work"; }
trap cleanup EXIT

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v e2guardian >/dev/null || need+=(e2guardian)
command -v squid >/dev/null || need+=(squid)
command -v squidGuard >/dev/null || need+=(squidguard)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
(cd "$repo" && cargo build --release --quiet && cargo build --release --quiet -p schoolgate-proxy --example bench_origin)
sg="$repo/target/release/schoolgate"
origin_bin="$repo/target/release/examples/bench_origin"

ORIGIN=127.0.0.1:9080 SG=127.0.0.1:5501 SQUID=127.0.0.1:5502 E2G=127.0.0.1:5503
echo "== preparing (work dir $work)"
"$origin_bin" "$ORIGIN" & pids+=($!)

# The blocklist: every valid domain of every list, once.
cat "$lists"/*/*/domains | tr 'A-Z' 'a-z' | grep -E '^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$' | grep -v '\.\.' | sort -u > "$work/block.txt"
echo "blocklist: $(wc -l < "$work/block.txt") domains"
shuf -n 2000 --random-source=<(yes) "$work/block.txt" > "$work/blocked-sample.txt"

# wrk scripts: requests in absolute form, as browsers send them to a proxy.
cat > "$work/allowed.lua" <<LUA
wrk.path = "http://$ORIGIN/page"
LUA
cat > "$work/blocked.lua" <<LUA
local hosts = {}
for line in io.lines("$work/blocked-sample.txt") do hosts[#hosts + 1] = line end
local i = 0
request = function()
  i = i % #hosts + 1
  return wrk.format("GET", "http://" .. hosts[i] .. "/")
end
LUA

# schoolgate: all lists imported; loopback needs no sign-in and gets a policy blocking
# every category, so that it blocks exactly what the others block.
"$sg" serve --demo --data "$work/sg" --console 127.0.0.1:0 --dns 127.0.0.1:0 --proxy 127.0.0.1:0 --upstream 127.0.0.1:9 >/dev/null 2>&1 &
sgp=$!; sleep 3; kill "$sgp"; wait "$sgp" 2>/dev/null || true
"$sg" lists import "$lists" --data "$work/sg" --as gpryce >/dev/null 2>"$work/import.err"
cats=$(cd "$repo" && grep -oE '^    [A-Za-z]+ = [0-9]+, "[a-z_]+"' crates/policy/src/category.rs | grep -oE '"[a-z_]+"' | grep -v illegal_content | paste -sd, -)
echo "block = [$cats]" > "$work/all.toml"
"$sg" policy set unidentified "$work/all.toml" --data "$work/sg" --as gpryce >/dev/null
cat > "$work/sg.toml" <<TOML
[proxy]
listen = "$SG"
connect_ports = []
[[proxy.open_subnets]]
subnet = "127.0.0.0/8"
group = "unidentified"
[dns]
listen = "127.0.0.1:5510"
upstreams = ["127.0.0.1:9"]
TOML
SCHOOLGATE_LOG=warn "$sg" serve --config "$work/sg.toml" --data "$work/sg" --console 127.0.0.1:0 >"$work/sg.log" 2>&1 &
pids+=($!); sgpid=$!

# Squid with squidGuard as its URL rewriter, the same domains in squidGuard's database.
mkdir -p "$work/sgdb/blocked" "$work/sglog"
cp "$work/block.txt" "$work/sgdb/blocked/domains"
cat > "$work/squidGuard.conf" <<CONF
dbhome $work/sgdb
logdir $work/sglog
dest blocked {
  domainlist blocked/domains
}
acl {
  default {
    pass !blocked all
    redirect 302:http://127.0.0.1/blocked
  }
}
CONF
squidGuard -c "$work/squidGuard.conf" -C all >/dev/null 2>&1
chown -R proxy:proxy "$work/sgdb" "$work/sglog"
cat > "$work/squid.conf" <<CONF
http_port $SQUID
acl local src 127.0.0.0/8
http_access allow local
http_access deny all
cache deny all
access_log none
cache_store_log none
cache_log $work/squid-cache.log
pid_filename $work/squid.pid
coredump_dir $work
url_rewrite_program /usr/bin/squidGuard -c $work/squidGuard.conf
url_rewrite_children 8 startup=8 idle=2
shutdown_lifetime 1 seconds
CONF
touch "$work/squid-cache.log"; chown proxy:proxy "$work/squid-cache.log"
squid -N -f "$work/squid.conf" >/dev/null 2>&1 &
pids+=($!); sqpid=$!

# e2guardian as a stand-alone proxy, the same domains as its banned site list.
cp -r /etc/e2guardian "$work/e2"
sed -i "s#/etc/e2guardian#$work/e2#g" "$work/e2/e2guardian.conf" "$work/e2/e2guardianf1.conf"
cp "$work/block.txt" "$work/e2/lists/bannedsitelist"
sed -i -e "s#^filterports = .*#filterports = ${E2G##*:}#" -e "s#^filterip =.*#filterip = 127.0.0.1#" \
  -e "s#^checkip = .*#checkip = 127.0.0.1#" "$work/e2/e2guardian.conf"
{
  echo "pidfilename = '$work/e2guardian.pid'"
  echo "loglocation = '$work/e2-access.log'"
  echo "nodaemon = on"
} >> "$work/e2/e2guardian.conf"
touch "$work/e2-access.log"
chown -R e2guardian:e2guardian "$work/e2" "$work/e2-access.log" 2>/dev/null || true
e2guardian -N -c "$work/e2/e2guardian.conf" >"$work/e2.log" 2>&1 &
pids+=($!); e2pid=$!

wait_for() {
  for _ in $(seq 1 300); do
    curl -s -o /dev/null -x "http://$1" "http://$ORIGIN/page" && return 0
    sleep 1
  done
  echo "proxy on $1 did not start"; return 1
}
for p in $SG $SQUID $E2G; do wait_for "$p"; done
echo "all three proxies answer"
# Blocked names must be blocked by every one of them before anything is measured.
b=$(head -1 "$work/blocked-sample.txt")
for p in $SG $SQUID $E2G; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -x "http://$p" "http://$b/")
  echo "  $p answers $b with $code"
done

rss() { local t=0; for p in "$@"; do t=$((t + $(awk '/VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo $((t / 1024)); }
# Throughput: 32 connections. Latency: one connection, one request at a time, so that it is
# what each request costs rather than time spent queueing.
rps() { wrk -t 2 -c "${CONNECTIONS:-32}" -d "$duration" -s "$2" "$1" 2>/dev/null | awk '/Requests\/sec/ { printf "%d", $2 }'; }
lat() {
  wrk -t 1 -c 1 -d "$duration" --latency -s "$2" "$1" 2>/dev/null | awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1000000 }
    $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) } END { printf "%d %d", p50, p99 }'
}

read -r d50 d99 <<<"$(lat "http://$ORIGIN" "$work/allowed.lua")"
direct_rps=$(rps "http://$ORIGIN" "$work/allowed.lua")
printf '\n| path | allowed req/s | blocked req/s | allowed latency p50 / p99 (µs, 1 connection) | added p99 (µs) | memory (RSS, MiB) |\n|---|---:|---:|---:|---:|---:|\n'
printf '| direct to the origin | %s | — | %s / %s | — | — |\n' "$direct_rps" "$d50" "$d99"
row() {
  # $1 label, $2 proxy address, remaining: pids whose memory counts
  local label=$1 addr=$2; shift 2
  local a b p50 p99
  a=$(rps "http://$addr" "$work/allowed.lua"); b=$(rps "http://$addr" "$work/blocked.lua")
  read -r p50 p99 <<<"$(lat "http://$addr" "$work/allowed.lua")"
  printf '| %s | %s | %s | %s / %s | %s | %s |\n' "$label" "$a" "$b" "$p50" "$p99" "$((p99 - d99))" "$(rss "$@")"
}
row schoolgate "$SG" "$sgpid"
row e2guardian "$E2G" $(pgrep -x e2guardian)
row "squid + squidGuard" "$SQUID" $(pgrep -f "squid -N -f $work") $(pgrep -f "squidGuard -c $work")
echo
echo "(wrk -t 2 -c ${CONNECTIONS:-32} -d $duration for req/s; wrk -t 1 -c 1 -d $duration --latency for latency)"
