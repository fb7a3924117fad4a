# The two commands a newcomer runs: `make book` and `make test`.
# Both create .venv when missing and install the pinned requirements first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Re-install whenever the pins or the package metadata change.
STAMP  := $(VENV)/.installed

.PHONY: book test bench system-deps clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Debian packages the tests need: Chromium for the browser tests, bubblewrap for the
# grading sandbox. Installed only when missing.
SYSTEM_BINARIES := chromium:chromium chromedriver:chromium-driver bwrap:bubblewrap
system-deps:
	@missing=""; for pair in $(SYSTEM_BINARIES); do \
	  bin=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$bin >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

test: $(STAMP) system-deps
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf _build
