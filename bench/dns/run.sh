#!/usr/bin/env bash
# DNS benchmark: schoolgate against dnsmasq and unbound on loopback, each with the same
# blocklist (every domain of ../shared/data/blocklists) and the same upstream (a local
# dnsmasq serving a test zone, started here). Measures queries per second with dnsperf for
# a cached-allowed mix and a blocked mix, latency percentiles at a fixed load, and memory.
#
#   bench/dns/run.sh            (from the repository; installs dnsperf, dnsmasq and unbound)
#
# Every server listens on 127.0.0.1 only; nothing leaves the machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
lists=${SCHOOLGATE_BLOCKLISTS:-$repo/../shared/data/blocklists}
duration=${DURATION:-10}
work=$(mktemp -d)
# dnsmasq reads its hosts file after dropping to nobody: a private work directory would
# leave the upstream answering NXDOMAIN for every test name.
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
command -v unbound >/dev/null || need+=(unbound)
command -v dig >/dev/null || need+=(bind9-dnsutils)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
(cd "$repo" && cargo build --release --quiet)
sg="$repo/target/release/schoolgate"

echo "== preparing (work dir $work)"
# The upstream: 10,000 names in bench.test, answered by a dnsmasq with no cache of its own.
awk 'BEGIN { for (i = 1; i <= 10000; i++) printf "10.%d.%d.%d host%d.bench.test\n", int(i/65536)%256, int(i/256)%256, i%256, i }' > "$work/zone.hosts"
dnsmasq --keep-in-foreground --no-resolv --no-hosts --addn-hosts="$work/zone.hosts" --local=/bench.test/ --local-ttl=300 \
  --port=5400 --listen-address=127.0.0.1 --bind-interfaces --cache-size=0 --pid-file="$work/up.pid" 2>"$work/up.log" &
pids+=($!)

# The blocklist: every valid domain of every list, once.
cat "$lists"/*/*/domains | tr 'A-Z' 'a-z' | grep -E '^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$' | grep -v '\.\.' | sort -u > "$work/block.txt"
echo "blocklist: $(wc -l < "$work/block.txt") domains"

# Questions: allowed names (cached after dnsperf's first pass over the file) and blocked
# names (half of them with www. in front).
awk '{ printf "host%d.bench.test A\n", NR }' < <(seq 1 10000) > "$work/allowed.q"
shuf -n 10000 --random-source=<(yes) "$work/block.txt" | awk 'NR % 2 { print $1 " A"; next } { print "www." $1 " A" }' > "$work/blocked.q"

# schoolgate: the demo school, all lists imported, and a policy for unidentified devices
# that blocks every category, so that it blocks exactly what the others block.
"$sg" serve --demo --data "$work/sg" --console 127.0.0.1:0 --dns 127.0.0.1:0 --upstream 127.0.0.1:5400 >/dev/null 2>&1 &
sgp=$!; sleep 3; kill "$sgp"; wait "$sgp" 2>/dev/null || true
"$sg" lists import "$lists" --data "$work/sg" --as gpryce >/dev/null 2>"$work/import.err"
cats=$(cd "$repo" && grep -oE '^    [A-Za-z]+ = [0-9]+, "[a-z_]+"' crates/policy/src/category.rs | grep -oE '"[a-z_]+"' | grep -v illegal_content | paste -sd, -)
echo "block = [$cats]" > "$work/all.toml"
"$sg" policy set unidentified "$work/all.toml" --data "$work/sg" --as gpryce >/dev/null
cat > "$work/sg.toml" <<TOML
[dns]
listen = "127.0.0.1:5401"
upstreams = ["127.0.0.1:5400"]
per_client_qps = 0
block_page_ipv4 = "127.0.0.1"
cache_entries = 200000
TOML
SCHOOLGATE_LOG=warn "$sg" serve --config "$work/sg.toml" --data "$work/sg" --console 127.0.0.1:0 >"$work/sg.log" 2>&1 &
pids+=($!); sgpid=$!

# dnsmasq: the same domains as address=/domain/0.0.0.0 (which, like schoolgate, covers subdomains).
awk '{ print "address=/" $1 "/0.0.0.0" }' "$work/block.txt" > "$work/dnsmasq-block.conf"
dnsmasq --keep-in-foreground --no-resolv --no-hosts --server=127.0.0.1#5400 --conf-file="$work/dnsmasq-block.conf" \
  --port=5402 --listen-address=127.0.0.1 --bind-interfaces --cache-size=10000 --dns-forward-max=1000 2>"$work/dnsmasq.log" &
pids+=($!); dmpid=$!

# unbound: the same domains as always_nxdomain local zones, forwarding to the same upstream.
{
  echo "server:"
  echo "  interface: 127.0.0.1@5403"
  echo "  num-threads: 2"
  echo "  do-not-query-localhost: no"
  echo "  module-config: \"iterator\""
  echo "  username: \"\""
  echo "  chroot: \"\""
  echo "  pidfile: \"$work/unbound.pid\""
  echo "  use-syslog: no"
  echo "  logfile: \"$work/unbound.log\""
  echo "  msg-cache-size: 64m"
  echo "  rrset-cache-size: 128m"
  echo "  local-zone: \"bench.test.\" transparent"
  awk '{ print "  local-zone: \"" $1 ".\" always_nxdomain" }' "$work/block.txt"
  echo "forward-zone:"
  echo "  name: \".\""
  echo "  forward-addr: 127.0.0.1@5400"
} > "$work/unbound.conf"
unbound -d -c "$work/unbound.conf" 2>>"$work/unbound.err" &
pids+=($!); ubpid=$!

wait_for() { for _ in $(seq 1 600); do dig +time=1 +tries=1 @127.0.0.1 -p "$1" host1.bench.test A >/dev/null 2>&1 && return 0; sleep 1; done; echo "server on $1 did not start"; return 1; }
for p in 5401 5402 5403; do wait_for $p; done
echo "all three servers answer"
# Each must answer the test zone from the upstream, or the "cached allowed" mix measures
# something else (an uncacheable NXDOMAIN, as it once did here).
for p in 5401 5402 5403; do
  got=$(dig +short +time=2 +tries=1 @127.0.0.1 -p $p host1.bench.test A)
  [ "$got" = 10.0.0.1 ] || { echo "server on $p answered host1.bench.test with '$got', not 10.0.0.1"; exit 1; }
done

# Queries per second, and the server's CPU time (user + system, from /proc) per answer:
# dnsperf and the server share this machine's cores, so the second figure says more about
# the server alone than the first.
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
qps() {
  local t0 t1 hz
  hz=$(getconf CLK_TCK); t0=$(ticks)
  dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$duration" -c 16 -q 500 2>/dev/null > "$work/dnsperf.out"
  t1=$(ticks)
  awk -v t=$((t1 - t0)) -v hz="$hz" '/Queries completed/ { n = $3 } /Queries per second/ { q = $4 }
    END { printf "%.0f (%.2f µs)", q, t * 1e6 / hz / n }' "$work/dnsperf.out"
}
latency() {
  # At a fixed 10,000 questions a second, one line per answer with its latency.
  dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l 5 -Q 10000 -v 2>/dev/null | awk '$1 == ">" { print $NF * 1000 }' | sort -n > "$work/lat"
  n=$(wc -l < "$work/lat")
  awk -v n="$n" 'NR == int(n*0.5) { p50 = $1 } NR == int(n*0.99) { p99 = $1 } END { printf "%.3f / %.3f", p50, p99 }' "$work/lat"
}
rss() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

printf '\n| server | cached allowed q/s (CPU µs each) | blocked q/s (CPU µs each) | latency p50 / p99 ms (allowed, 10k q/s) | latency p50 / p99 ms (blocked, 10k q/s) | memory (RSS, MiB) |\n|---|---:|---:|---:|---:|---:|\n'
for entry in "schoolgate 5401 $sgpid" "dnsmasq 5402 $dmpid" "unbound 5403 $ubpid"; do
  set -- $entry
  pid=$3
  dnsperf -s 127.0.0.1 -p "$2" -d "$work/allowed.q" -l 6 -c 8 >/dev/null 2>&1   # warm the caches: every allowed name answered once
  a=$(qps "$2" "$work/allowed.q"); b=$(qps "$2" "$work/blocked.q")
  la=$(latency "$2" "$work/allowed.q"); lb=$(latency "$2" "$work/blocked.q")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$a" "$b" "$la" "$lb" "$(rss "$3")"
done
