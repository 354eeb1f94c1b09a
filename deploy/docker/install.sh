#!/bin/sh
# Builds signoff's virtualenv from a source tree: `install.sh VENV SOURCE`.
# The Dockerfile's build stage runs this script, and so does the test that replays the
# image build where no container runtime can run (tests/acceptance/test_container_build.py).
set -eu
venv="$1"
source="$2"
python -m venv "$venv"
# A regular (not editable) install: the final image copies the virtualenv, not the source.
"$venv/bin/pip" install --quiet "$source"
# pip, setuptools and wheel are build tools: the running service needs none of them.
"$venv/bin/pip" uninstall --quiet --yes pip setuptools wheel 2>/dev/null || true
"$venv/bin/signoff" --help >/dev/null
