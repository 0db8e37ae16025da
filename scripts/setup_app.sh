#!/usr/bin/env bash
# Install the app's dependencies on a fresh machine and serve it on 127.0.0.1:7860 (the README's app command).
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
export GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python app.py "$@"
