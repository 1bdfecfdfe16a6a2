# Sourced by scripts/run and scripts/test: a virtual environment in .venv with the
# project installed (editable) with the extras named in $BOOTSTRAP_EXTRAS, reinstalled
# only when pyproject.toml changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python_bin=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python_bin="$candidate"
        break
    fi
done
if [ -z "$python_bin" ]; then
    echo "error: Python 3.11 or newer is needed (python3 --version)" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $("$python_bin" --version)" >&2
    "$python_bin" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${BOOTSTRAP_EXTRAS:-none}"
if [ ! -f "$stamp" ]; then
    echo "installing dependencies into .venv (log: .venv/install.log)" >&2
    if ! {
        .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip &&
            .venv/bin/python -m pip install --disable-pip-version-check \
                -e ".[${BOOTSTRAP_EXTRAS:-embedded}]"
    } >.venv/install.log 2>&1; then
        tail -n 30 .venv/install.log >&2
        echo "error: installing dependencies failed; see .venv/install.log" >&2
        exit 1
    fi
    rm -f .venv/.installed-*
    touch "$stamp"
fi
# The dashboard's charting library, from its npm package, checked against its pinned hash.
.venv/bin/python -m backend.dashboard_vendor
