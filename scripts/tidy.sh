#!/usr/bin/env bash
# Tidies every module of the workspace (go.work), or with -check fails if
# tidying would change any go.mod or go.sum.
#
# `go mod tidy` ignores go.work, and the modules of this repository require
# each other at the version about to be released (the first heading of
# CHANGELOG.md), which the module proxy does not have until it is tagged.
# So each module is tidied through a temporary copy of its go.mod that
# replaces its sibling modules by their directories: the result is what
# tidy gives once the siblings are published, without a replace directive
# in any go.mod a user imports or installs, and without sums of unreleased
# sibling versions in go.sum (RELEASING.md says when they are added).
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
[ "${1:-}" = -check ] && check=1
next=$(sed -n 's/^## \[\{0,1\}\(v[0-9][0-9.]*\).*/\1/p' CHANGELOG.md | head -n 1)
[ -n "$next" ] || { echo "tidy: no version heading (## v0.1.0) in CHANGELOG.md"; exit 1; }

# path and directory of every workspace module
mapfile -t mods < <(go list -m -f '{{.Path}} {{.Dir}}')
status=0
required=() # sibling modules some module requires (at $next)
for m in "${mods[@]}"; do
  path=${m%% *} dir=${m#* }
  tmp=$(mktemp -d)
  cp "$dir/go.mod" "$tmp/go.mod"
  if [ -f "$dir/go.sum" ]; then cp "$dir/go.sum" "$tmp/go.sum"; else : >"$tmp/go.sum"; fi
  added=()
  for s in "${mods[@]}"; do
    spath=${s%% *} sdir=${s#* }
    [ "$spath" = "$path" ] && continue
    grep -qE "^(replace)?[[:space:]]*${spath//./\\.} (v[^ ]+ )?=>" "$tmp/go.mod" && continue # bench/ replaces on its own
    go mod edit -replace="$spath=$sdir" "$tmp/go.mod"
    go mod edit -require="$spath@$next" "$tmp/go.mod" # tidy drops it if unused
    added+=("$spath")
  done
  (cd "$dir" && GOWORK=off GOFLAGS=-mod=mod go mod tidy -modfile="$tmp/go.mod")
  for spath in "${added[@]}"; do
    go mod edit -dropreplace="$spath" "$tmp/go.mod"
    grep -qE "^(require)?[[:space:]]*${spath//./\\.} $next" "$tmp/go.mod" && required+=("$spath")
  done
  if [ $check = 1 ]; then
    if ! diff -u "$dir/go.mod" "$tmp/go.mod" || ! diff -u <(cat "$dir/go.sum" 2>/dev/null) "$tmp/go.sum"; then
      echo "tidy: $dir/go.mod or go.sum is not tidy (run scripts/tidy.sh)"
      status=1
    fi
  else
    cp "$tmp/go.mod" "$dir/go.mod"
    if [ -s "$tmp/go.sum" ]; then cp "$tmp/go.sum" "$dir/go.sum"; else rm -f "$dir/go.sum"; fi
  fi
  rm -rf "$tmp"
done

# go.work replaces each required sibling at $next by its directory: without
# that, the go command looks for that version's go.mod on the proxy even in
# workspace mode.
work=$(mktemp)
grep -v '^replace github.com/seshat-go/seshat[^ ]* v[^ ]* =>' go.work >"$work"
for m in "${mods[@]}"; do
  path=${m%% *} dir=${m#* }
  rel=.${dir#"$PWD"}
  [[ " ${required[*]} " == *" $path "* ]] && go work edit -replace="$path@$next=$rel" "$work"
done
go work edit -fmt "$work"
if [ $check = 1 ]; then
  diff -u go.work "$work" || { echo "tidy: go.work lacks the replacements above (run scripts/tidy.sh)"; status=1; }
  rm -f "$work"
else
  mv "$work" go.work
fi
exit $status
