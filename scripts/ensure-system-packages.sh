#!/usr/bin/env bash
# Installs the Debian packages the test suite (and the composer) uses when they are missing and this machine
# allows it (root + apt-get). Where it cannot, the tests that need them skip with a reason
# (never under CI=true, where they fail instead).
set -u
needed=()
command -v flite >/dev/null 2>&1 || needed+=(flite)
command -v espeak-ng >/dev/null 2>&1 || needed+=(espeak-ng)
command -v sox >/dev/null 2>&1 || needed+=(sox)
command -v chromium >/dev/null 2>&1 || needed+=(chromium)
# the composer's default General MIDI SoundFont (FluidR3_GM, MIT)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || needed+=(fluid-soundfont-gm)
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages for the tests: ${needed[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${needed[@]}" >/dev/null && exit 0
fi
echo "warning: could not install ${needed[*]}; tests that need them will skip" >&2
[ "${CI:-}" = "true" ] && exit 1
exit 0
