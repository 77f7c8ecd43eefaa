#!/usr/bin/env bash
# Runs every test of seshat on a fresh machine: installs what is missing
# (Debian packages), then, in every module of the workspace, the tidiness
# check and go vet; gofmt, the Prometheus alert rules' unit tests, the
# race-enabled Go tests (which start their own redis-server and
# PostgreSQL processes on free loopback ports; the express interop test installs
# express-session and connect-redis from the npm registry into a temporary
# folder), the reliability scenarios, one short pass of every benchmark
# so they keep working, and a one-second pass of the peer comparison.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
command -v npm >/dev/null || need+=(npm)
command -v wrk >/dev/null || need+=(wrk)
# PostgreSQL's server programs (initdb, pg_ctl, postgres) live outside the
# PATH, in /usr/lib/postgresql/VERSION/bin; pgstore/pgtest finds them there.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The modules of the workspace (go.work), root first; e2e/ and bench/ last.
modules=(. redisstore pgstore metrics otelseshat expresscompat ginseshat echoseshat fiberseshat connectseshat cmd/seshat e2e bench)
# Every module is tidy: `go mod tidy` would change no go.mod or go.sum.
scripts/tidy.sh -check
for m in "${modules[@]}"; do (cd "$m" && go vet ./...); done
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting:"; echo "$unformatted"; exit 1
fi
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml
# The root module's tests need nothing installed: run them first, with no
# redis-server reachable on the PATH, to keep it that way.
nored=$(mktemp -d)
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  for f in "$d"/*; do
    n=${f##*/}
    [ -e "$f" ] || continue
    [[ $n == redis-* || -e $nored/$n ]] || ln -s "$f" "$nored/$n"
  done
done
env PATH="$nored" go test -race -count=1 ./...
rm -rf "$nored"
# Every other module's tests and the end-to-end scenarios (the browser,
# the express interop, the multi-instance ones), in one go command over
# the workspace, up to four test binaries at once (and three of a package's
# parallel tests, such as redisstore's): many of these tests wait
# on servers (replication, expiry, Chromium) more than they compute, so
# they overlap well on two cores. Then the fault scenarios (Redis killed,
# paused, failed over, full; a soak) alone, so their timings are not
# disturbed by other packages, printing what they measure; then the
# scale-out one.
pkgs=()
for m in redisstore pgstore metrics otelseshat expresscompat ginseshat echoseshat fiberseshat connectseshat cmd/seshat bench e2e; do
  while read -r p; do pkgs+=("$p"); done < <(cd "$m" && go list ./... | grep -vE '/e2e/(faults|scale)$')
done
go test -race -count=1 -p 4 -parallel 3 -timeout 30m "${pkgs[@]}"
(cd e2e && go test -race -count=1 -timeout 30m -v -run . ./faults | grep -vE '^=== (RUN|PAUSE|CONT)')
# The scale-out scenario: 100,000 sessions on a 30-master Cluster, ten
# masters added and a quarter of the slots moved under load. Without the
# race detector, which would double its minute; the same code runs under it
# in redisstore's and the other scenarios' tests.
(cd e2e && go test -count=1 -timeout 30m -v -run . ./scale | grep -vE '^ *(=== (RUN|PAUSE|CONT)|--- PASS)')
# One short pass of every benchmark so they keep working, and the
# allocation budget of a request, which the race detector would distort.
pkgs=()
for m in . redisstore pgstore otelseshat cmd/seshat; do
  while read -r p; do pkgs+=("$p"); done < <(cd "$m" && go list ./...)
done
go test -run '^TestRequestAllocations$' -bench . -benchtime 1x -short -p 4 -timeout 30m "${pkgs[@]}" >/dev/null
# The peer comparison (bench/), in a one-second version: every app builds,
# answers correctly, and is measured. The real run: bench/run.sh.
bench/run.sh -d 1s -warmup 0 -rounds 1 -sessions 1000 -out "$(mktemp)"
echo "all tests passed"
