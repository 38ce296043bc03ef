#!/usr/bin/env bash
# Creates .venv with retention-agent installed (editable). With --test, also the test tools, the desktop app's
# extra, and the Debian packages the tests run against (Dovecot, setfacl, ssh-keygen, age, systemd-analyze,
# Xvfb, a system tray (trayer) and the libraries Qt's xcb platform plugin needs).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
    [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

python=${PYTHON:-python3}
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install python3-venv
fi

if [ "${1:-}" = "--test" ]; then
    missing=()
    for pair in dovecot-imapd:/usr/sbin/dovecot acl:/usr/bin/setfacl openssh-client:/usr/bin/ssh-keygen \
                age:/usr/bin/age systemd:/usr/bin/systemd-analyze \
                desktop-file-utils:/usr/bin/desktop-file-validate \
                trayer:/usr/bin/trayer x11-utils:/usr/bin/xwininfo; do
        [ -x "${pair#*:}" ] || missing+=("${pair%%:*}")
    done
    # trayer: a real system tray (XEmbed) under Xvfb for the app's tray icon; xwininfo lists the windows.
    # Qt's xcb plugin aborts without these (FIELD-NOTES); QtGui itself needs EGL, GL and fontconfig.
    for package in xvfb fonts-dejavu-core libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 \
                   libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libegl1 libgl1 \
                   libfontconfig1 libdbus-1-3; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
    extras='.[test,app]'
else
    extras='.'
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# The editable install maps installer/ into the package through a meta path finder, which setuptools
# announces with a note on every install; it is expected here, so it is not shown.
PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q -e "$extras"
