#!/usr/bin/env bash
# Installs the Debian packages the test suite (and the composer) uses when they are missing and this machine
# allows it (root + apt-get). Where it cannot, the tests that need them skip with a reason
# (never under CI=true, where they fail instead).
# `--runtime` (make run): only what the service itself uses, the composer's SoundFont.
set -u
needed=()
purpose="the tests"
if [ "${1:-}" = "--runtime" ]; then
  purpose="the service"
else
  command -v flite >/dev/null 2>&1 || needed+=(flite)
  command -v espeak-ng >/dev/null 2>&1 || needed+=(espeak-ng)
  command -v sox >/dev/null 2>&1 || needed+=(sox)
  command -v chromium >/dev/null 2>&1 || needed+=(chromium)
fi
# the composer's default General MIDI SoundFont (FluidR3_GM, MIT)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || needed+=(fluid-soundfont-gm)
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages for $purpose: ${needed[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${needed[@]}" >/dev/null && exit 0
fi
if [ "$purpose" = "the service" ]; then
  echo "warning: could not install ${needed[*]} (run: sudo apt-get install ${needed[*]}); music generation" \
    "answers with that instruction until then, or set AUDIOMILL_SOUNDFONT" >&2
  exit 0
fi
echo "warning: could not install ${needed[*]}; tests that need them will skip" >&2
[ "${CI:-}" = "true" ] && exit 1
exit 0
