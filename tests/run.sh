#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the package with its test extras and the
# broker adapters' extras (Lasair/Kafka, Fink/Spark, Slack), runs pytest, then runs the suite
# again under Python 3.9 + numpy 1.26 (the ANTARES worker environment) when a 3.9 interpreter is
# available (pyenv), in a virtualenv of its own with the core's test extra only (the broker
# adapters' tests skip there, saying which library is missing). Kafka and Spark jars are
# fetched once with Maven into .cache/ by the tests that need them.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
echo "== installing vra-filters[test,lasair,fink,slack] for $($PY --version)"
$PY -m pip install -q --disable-pip-version-check -e '.[test,lasair,fink,slack]'
$PY -m pytest "$@"

py39=""
if command -v pyenv >/dev/null 2>&1; then
  py39=$(pyenv root)/versions/$(pyenv versions --bare 2>/dev/null | grep -E '^3\.9(\.|$)' | tail -n 1)/bin/python
fi
if [ -n "$py39" ] && [ -x "$py39" ]; then
  echo "== Python 3.9 run ($("$py39" --version)) with numpy<2, pandas<3"
  venv=.venv-py39
  [ -x "$venv/bin/python" ] || "$py39" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]' 'numpy>=1.26,<2' 'pandas<3'
  "$venv/bin/python" -m pytest "$@"
else
  echo "== no Python 3.9 interpreter (pyenv) on this machine: the 3.9 run is skipped;"
  echo "   tests/test_py39_syntax.py still checks the core parses as Python 3.9"
fi
