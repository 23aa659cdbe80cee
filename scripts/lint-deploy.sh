#!/usr/bin/env bash
# Lints the deployment files with what the package registries offer here
# (no Docker engine needed): dockerlint and dockerfilelint from npm, and
# ShellCheck (Debian) when installed. The structural checks of the
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
if command -v shellcheck >/dev/null; then
  echo "== shellcheck"
  shellcheck scripts/*.sh || status=1
fi
exit $status
