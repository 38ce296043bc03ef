#!/usr/bin/env bash
# Creates .venv with retention-agent installed (editable). With --test, also the test tools and the Debian
# packages the tests run against (Dovecot, setfacl, ssh-keygen, age, systemd-analyze).
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
                age:/usr/bin/age systemd:/usr/bin/systemd-analyze; do
        [ -x "${pair#*:}" ] || missing+=("${pair%%:*}")
    done
    if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
    extras='.[test]'
else
    extras='.'
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# The editable install maps installer/ into the package through a meta path finder, which setuptools
# announces with a note on every install; it is expected here, so it is not shown.
PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q -e "$extras"
