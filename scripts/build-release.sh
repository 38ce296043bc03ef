#!/usr/bin/env bash
# Builds what an administrator installs: the wheel and the source archive in dist/, checked with twine.
#
#   scripts/build-release.sh                           # dist/retention_agent-VERSION-py3-none-any.whl, .tar.gz
#   scripts/build-release.sh --wheelhouse              # also dist/wheelhouse/: every dependency as a wheel for
#                                                      # this platform, so the wheel installs with no internet
#   scripts/build-release.sh --wheelhouse win_amd64 3.12   # the wheelhouse for 64-bit Windows, Python 3.12
#
# Run it on a machine with internet access (the build and the wheelhouse download from PyPI); the install
# commands for the server are in docs/administrator.md. Uses the development venv (.venv, made if needed).
set -euo pipefail
cd "$(dirname "$0")/.."

wheelhouse="" platform="" python_version=""
if [ "${1:-}" = "--wheelhouse" ]; then
    wheelhouse=1 platform="${2:-}" python_version="${3:-}"
    if [ -n "$platform" ] && [ -z "$python_version" ]; then
        echo "build-release.sh: --wheelhouse PLATFORM needs the Python version too, e.g. win_amd64 3.12" >&2
        exit 2
    fi
elif [ -n "${1:-}" ]; then
    sed -n '2,10p' "$0" >&2
    exit 2
fi

if ! .venv/bin/python -c 'import build, twine' 2>/dev/null; then
    scripts/setup-venv.sh --test  # build and twine are among the test tools (pyproject.toml)
fi

rm -rf dist build retention_agent.egg-info
mkdir -p build
# the build's own output goes to build/release.log (shown when it fails)
.venv/bin/python -m build --sdist --wheel --outdir dist . >build/release.log 2>&1 || {
    cat build/release.log >&2
    exit 1
}
.venv/bin/twine check --strict dist/*

if [ -n "$wheelhouse" ]; then
    wheel=$(ls dist/retention_agent-*.whl)
    if [ -z "$platform" ]; then
        target=dist/wheelhouse
        .venv/bin/python -m pip download -q --only-binary=:all: --dest "$target" "$wheel"
    else
        target="dist/wheelhouse-$platform-py$python_version"
        .venv/bin/python -m pip download -q --only-binary=:all: --platform "$platform" \
            --python-version "$python_version" --dest "$target" "$wheel"
    fi
    echo "Wheelhouse: $target ($(ls "$target" | wc -l) wheels)"
fi
ls -l dist
