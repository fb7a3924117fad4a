# The two commands a newcomer runs: `make book` and `make test`.
# Both create .venv when missing and install the pinned requirements first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Re-install whenever the pins or the package metadata change.
STAMP  := $(VENV)/.installed

.PHONY: book book-hash book-deps test bench system-deps clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Debian packages, installed only when their binary is missing: npm for the vendored
# MathJax (make book), Chromium for the browser tests and bubblewrap for the grading
# sandbox (make test). Each entry is binary:package.
BOOK_BINARIES   := npm:npm
SYSTEM_BINARIES := $(BOOK_BINARIES) chromium:chromium chromedriver:chromium-driver bwrap:bubblewrap
define install_missing
	@missing=""; for pair in $(1); do \
	  bin=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$bin >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

book-deps:
	$(call install_missing,$(BOOK_BINARIES))

system-deps:
	$(call install_missing,$(SYSTEM_BINARIES))

# ---- Book -----------------------------------------------------------------------
# MathJax is served by the book itself (no CDN): npm installs the version pinned in
# package-lock.json and its browser build is copied to _vendor/mathjax, a static path
# of _config.yml.
MATHJAX := _vendor/mathjax/tex-mml-chtml.js
$(MATHJAX): package.json package-lock.json | book-deps
	npm ci --ignore-scripts --no-audit --no-fund
	rm -rf _vendor/mathjax && mkdir -p _vendor
	cp -r node_modules/mathjax/es5 _vendor/mathjax
	@touch $@

# Stale outputs: every page is executed whenever Sphinx reads it, but an incremental
# build re-reads only the pages whose source changed. A chapter's output also depends
# on the code in book/, so the build stores a hash of book/ next to its output and
# passes --all (re-read and re-execute everything) when the hash differs. The hash is
# removed while building, so that after a failed build (whose pages Sphinx would not
# re-read, hiding their warnings) the next one re-reads everything too.
# BOOK_WIDGETS=static: interactive figures skip their live ipywidgets layer, which the
# HTML never shows (see book/widgets.py).
BOOK_SOURCES   ?= $(shell find book -type f \( -name '*.py' -o -name '*.js' \) | LC_ALL=C sort)
BOOK_HASH      := $(shell cat $(BOOK_SOURCES) /dev/null | sha256sum | cut -c1-16)
BOOK_HASH_FILE ?= _build/.book-sources-hash
BOOK_ALL       := $(if $(filter $(BOOK_HASH),$(shell cat $(BOOK_HASH_FILE) 2>/dev/null)),,--all)

book: $(STAMP) $(MATHJAX)
	@rm -f $(BOOK_HASH_FILE)
	BOOK_WIDGETS=static $(VENV)/bin/jupyter-book build . -W -n --keep-going $(BOOK_ALL)
	@mkdir -p $(dir $(BOOK_HASH_FILE)) && echo $(BOOK_HASH) > $(BOOK_HASH_FILE)

book-hash:
	@echo $(BOOK_HASH)

test: $(STAMP) system-deps
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf _build
