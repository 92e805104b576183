#!/bin/sh
# Installs the Debian packages that Qt (PySide6, offscreen platform) needs for the GUI tests,
# only when a library is missing, so a second run costs nothing.
set -e
missing=""
for pair in libEGL.so.1:libegl1 libGL.so.1:libgl1 libxkbcommon.so.0:libxkbcommon0 \
            libfontconfig.so.1:libfontconfig1 libdbus-1.so.3:libdbus-1-3 libglib-2.0.so.0:libglib2.0-0; do
  lib=${pair%%:*}; pkg=${pair#*:}
  ldconfig -p 2>/dev/null | grep -q "$lib" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
echo "Installing Debian packages for Qt:$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
