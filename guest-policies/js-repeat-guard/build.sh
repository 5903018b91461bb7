#!/usr/bin/env bash
# Builds the repeat-guard rule plugin (src/repeat-guard.js) into a WebAssembly component of
# the levee:policy world, with componentize-qjs (QuickJS), pinned by package.json and
# package-lock.json.
#
#   ./build.sh OUT.wasm
#
# The tool is installed once (npm install with the lockfile, which pins versions and
# integrity hashes; not `npm ci`, which refuses the lockfile because some platforms' optional
# bindings of componentize-qjs 0.4.5 are not published) into
# $LEVEE_TOOLS_DIR/componentize-qjs-<version>; LEVEE_TOOLS_DIR defaults to .tools/ in this
# folder (git-ignored). Needs node >= 18 and npm. Build options:
#   --sync      the plain (non-async) runtime: no component-model-async ABI in the component
#   --opt-size  the runtime built for size (about 1 MB instead of 1.6 MB)
# WASI is NOT stubbed: the component imports a subset of WASI 0.2 (cli, clocks, random
# insecure-seed, io, filesystem types/preopens; no sockets, no http), which the host provides
# deterministically.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT.wasm}
wit=$(cd "$here/../../wit" && pwd)
tool_version=$(node -p 'require(process.argv[1]).devDependencies["componentize-qjs"]' "$here/package.json")
tools_dir=${LEVEE_TOOLS_DIR:-$here/.tools}
prefix=$tools_dir/componentize-qjs-$tool_version
bin=$prefix/node_modules/.bin/componentize-qjs

# Install (again) only when it is missing or the lockfile changed.
if [ ! -x "$bin" ] || ! cmp -s "$here/package-lock.json" "$prefix/package-lock.json"; then
    echo "installing componentize-qjs $tool_version into $prefix" >&2
    rm -rf "$prefix"
    mkdir -p "$prefix"
    cp "$here/package.json" "$here/package-lock.json" "$prefix/"
    npm install --prefix "$prefix" --no-audit --no-fund --ignore-scripts --loglevel=error >&2
    # npm may rewrite the lockfile; keep ours so the next run sees the same bytes.
    cp "$here/package-lock.json" "$prefix/package-lock.json"
fi

mkdir -p "$(dirname "$out")"
"$bin" --wit "$wit" --world policy --js "$here/src/repeat-guard.js" --sync --opt-size -o "$out"
