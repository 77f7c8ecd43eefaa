#!/bin/sh
# Runs the whole peer comparison: installs what is missing (wrk,
# redis-server and PostgreSQL from Debian's packages, the express app's npm
# packages), then the Go runner. Flags go to the runner: ./run.sh -d 5s -only seshat,floor
set -eu
cd "$(dirname "$0")"

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
		echo "run.sh: need root to run: $*" >&2; exit 1
	fi
}

apt_install() {
	echo "run.sh: installing $* with apt-get" >&2
	as_root apt-get install -y "$@" || { as_root apt-get update && as_root apt-get install -y "$@"; }
}

command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
# PostgreSQL's server programs (initdb, postgres) live in
# /usr/lib/postgresql/N/bin, not on the PATH.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
	apt_install postgresql
fi

# The express peer: Node and its packages (no lock file is written).
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	for pkg in express express-session connect-redis redis connect-pg-simple pg; do
		if [ ! -f "express/node_modules/$pkg/package.json" ]; then
			echo "run.sh: installing the express app's npm packages" >&2
			(cd express && npm install --no-package-lock --no-audit --no-fund)
			break
		fi
	done
else
	echo "run.sh: node/npm not found (apt-get install nodejs npm): the express peer will be reported as failed" >&2
fi

exec go run ./cmd/bench "$@"
