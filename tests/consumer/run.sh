#!/bin/sh
# Installs the build in $1 into a scratch prefix, then builds and runs the
# consumer in $2 twice: through find_package(memtable) and through pkg-config.
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
"$tmp/cmake-build/consumer"
libdir=$(find "$tmp/prefix" -name memtable.pc -path '*pkgconfig*' -exec dirname {} \;)
PKG_CONFIG_PATH=$libdir cc "$src/main.c" -o "$tmp/pc-consumer" \
  $(PKG_CONFIG_PATH=$libdir pkg-config --cflags --libs --static memtable)
"$tmp/pc-consumer"
echo "1 passed, 0 failed"
