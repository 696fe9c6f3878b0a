#!/usr/bin/env bash
# Installs the Debian packages a48 builds with (only the missing ones; needs root or sudo).
set -euo pipefail
packages=(
  cmake ninja-build g++ pkg-config xz-utils  # build
  libgtest-dev libgmock-dev libbenchmark-dev  # tests, microbenchmarks
  nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev  # JSON, CLI, formatting, tokenizer regex
  libssl-dev  # libcrypto SHA-256 (tokenizer fingerprints in token shards)
  liblzma-dev  # reading .xz corpora (a48 tokenize)
  libcpp-httplib-dev  # a48 serve (HTTP/1.1, SSE)
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
