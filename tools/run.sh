#!/usr/bin/env bash
# Runs a project tool on the project's own toolchain, setting it up first where it is missing:
#   Node (the version in .node-version, fetched from the npm registry when the system one is older)
#   and the dependencies in package-lock.json. Usage: bash tools/run.sh tools/dev/<tool>.ts [args]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

want="$(tr -d '[:space:]' < .node-version)"
want_major="${want%%.*}"
have_major="$( (node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || echo 0)"

if [ "$have_major" -lt "$want_major" ]; then
  tool_dir="$root/.tools/node-$want"
  if [ ! -x "$tool_dir/node_modules/.bin/node" ]; then
    echo "hookpost: system Node is ${have_major:-absent}; fetching Node $want from the npm registry" >&2
    mkdir -p "$tool_dir"
    # The system npm fetches the node package; it needs no install script (the binary is in the tarball).
    npm install --prefix "$tool_dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node@$want" >&2
  fi
  export PATH="$tool_dir/node_modules/.bin:$PATH"
fi

# Install dependencies when package-lock.json changed since the last install.
stamp="node_modules/.hookpost-install-stamp"
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  echo "hookpost: installing dependencies" >&2
  # `npm install` honours package-lock.json; `npm ci` would refuse it, because the lock
  # lacks the optional @swc/core binaries of platforms the registry here does not serve.
  npm install --no-audit --no-fund --loglevel=error >&2
  echo "$lock_hash" > "$stamp"
fi

export PATH="$root/node_modules/.bin:$PATH"
# Forked tools inherit these flags: the hook resolves their library imports too.
exec node --disable-warning=ExperimentalWarning --import "file://$root/tools/dev/source-imports.ts" "$@"
