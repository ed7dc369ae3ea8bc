#!/usr/bin/env bash
# Installs pxdgen into a scratch prefix and builds the consumers a framework would write
# against the installed files only: examples/consumer through find_package(pxdgen), and
# the C example through pkg-config. Runs both on one event of the built-in model.
# usage: scripts/check_install.sh [BUILD_DIR]   (default build; run after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
prefix=$(mktemp -d /tmp/pxdgen-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
echo "check_install: installed into $prefix"

cmake -S examples/consumer -B "$prefix/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$prefix/consumer-build" -j "$(nproc)" >/dev/null
"$prefix/consumer-build/background_module" "" 1

export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name pxdgen.pc)")
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -c examples/c/first_event.c -o "$prefix/first_event.o" $(pkg-config --cflags pxdgen)
# shellcheck disable=SC2046
c++ "$prefix/first_event.o" -o "$prefix/first_event" $(pkg-config --libs pxdgen)
"$prefix/first_event"
"$prefix/bin/pxdgen" --version
echo "check_install: the installed package works"
