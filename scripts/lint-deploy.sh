#!/usr/bin/env bash
# Lints the deployment files with what the package registries offer here
# (no Docker engine needed): dockerlint and dockerfilelint from npm, and
# ShellCheck (Debian) when installed, and `compose config` (the plugin,
# or docker-compose 1.x) when installed. The structural checks of the
# compose file, the Dockerfile and the systemd unit are Go tests:
# `go test ./deploy`.
#
# Known: dockerfilelint 1.8.0 reports "Invalid Argument Format" for
# HEALTHCHECK --start-period (its option regex, --\w+, stops at the
# hyphen); that one finding is a false positive and is not fatal here.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${LINT_TOOLS_DIR:-${TMPDIR:-/tmp}/cyxwiz-lint-tools}"
mkdir -p "$tools"
if [ ! -x "$tools/node_modules/.bin/dockerlint" ] || [ ! -x "$tools/node_modules/.bin/dockerfilelint" ]; then
  npm install --prefix "$tools" --no-audit --no-fund --silent dockerlint@0.3.9 dockerfilelint@1.8.0
fi
status=0
echo "== dockerlint"
"$tools/node_modules/.bin/dockerlint" -f Dockerfile || status=1
echo "== dockerfilelint"
out="$("$tools/node_modules/.bin/dockerfilelint" Dockerfile || true)"
echo "$out"
findings="$(grep -cE '^ +[0-9]+ ' <<<"$out" || true)"
startperiod="$(grep -c 'start-period' <<<"$out" || true)"
if [ "${findings:-0}" -gt 1 ] || { [ "${findings:-0}" -eq 1 ] && [ "${startperiod:-0}" -eq 0 ]; }; then status=1; fi
# compose config, client-side: the base file and the TLS variant resolve
# with a secret, and refuse without one. The compose plugin when there is
# one; else docker-compose 1.x (Debian's), on a copy without the top-level
# `name:` it predates.
compose=""
if docker compose version >/dev/null 2>&1; then
  compose="docker compose"
elif command -v docker-compose >/dev/null; then
  compose="docker-compose"
fi
if [ -n "$compose" ]; then
  echo "== $compose config"
  dir="$(mktemp -d)"
  trap 'rm -rf "$dir"' EXIT
  mkdir -p "$dir/deploy"
  cp deploy/config.compose.toml "$dir/deploy/"
  cp docker-compose.tls.yml "$dir/"
  if [ "$compose" = docker-compose ]; then grep -v '^name:' docker-compose.yml >"$dir/docker-compose.yml"; else cp docker-compose.yml "$dir/"; fi
  for files in "-f docker-compose.yml" "-f docker-compose.yml -f docker-compose.tls.yml"; do
    # shellcheck disable=SC2086 # $files is two or four words on purpose
    if ! (cd "$dir" && CYXWIZ_JWT_SECRET=lint-secret-0123456789abcdef0123456789 $compose $files config -q); then
      echo "compose config $files: invalid"; status=1
    fi
    # shellcheck disable=SC2086
    if out="$(cd "$dir" && env -u CYXWIZ_JWT_SECRET $compose $files config -q 2>&1)" || ! grep -q CYXWIZ_JWT_SECRET <<<"$out"; then
      echo "compose config $files: starts without CYXWIZ_JWT_SECRET"; status=1
    fi
  done
  [ $status -eq 0 ] && echo "compose files OK (and refused without a secret)"
fi
if command -v shellcheck >/dev/null; then
  echo "== shellcheck"
  shellcheck scripts/*.sh || status=1
fi
exit $status
