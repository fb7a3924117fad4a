"""The book builds without a warning, works offline, and publishes no solution.

The build itself is the session fixture ``built_book`` (conftest.py): ``make book``,
i.e. ``jupyter-book build . -W -n --keep-going``, must exit 0. The checks below read
the built HTML.
"""

import hashlib
import re
import shutil
import subprocess

import pytest
from book_pages import ROOT, toc_pages

from autograder.release import book_url

JUPYTER_BOOK = ROOT / ".venv" / "bin" / "jupyter-book"

# A resource the browser would fetch from another host: a script, a stylesheet, a
# font, an image or a frame, by absolute or protocol-relative URL. Links (<a href>) to
# papers are fine: the reader follows them, the page does not load them.
EXTERNAL_RESOURCE = re.compile(
    r"""<(?:script|img|iframe|source|embed)\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//"""
    r"""|url\(\s*["']?(?:https?:)?//""",
    re.IGNORECASE)

# Sphinx's html_baseurl (html.baseurl = book_url in _config.yml) puts the page's published
# address on every page: <link rel="canonical" href="<book_url>/<page>.html">. It loads
# nothing, so it is the one <link> to another host allowed, and only to the book's own
# address: any other rel, or a canonical link elsewhere, is still an outside resource.
ATTRIBUTE = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


def is_own_canonical_link(tag, url):
    """Whether the tag ``<link ...>`` is ``rel="canonical"`` to a page under ``url``."""
    attributes = {name.lower(): "".join(values) for name, *values in ATTRIBUTE.findall(tag)}
    return (attributes.get("rel", "").lower().split() == ["canonical"]
            and attributes.get("href", "").startswith(url.rstrip("/") + "/"))


def external_resources(text, url):
    """What ``text`` (HTML or CSS) would fetch from another host; the canonical link to
    the book's own address ``url`` is not fetched and not counted."""
    hits = []
    for match in EXTERNAL_RESOURCE.finditer(text):
        if match.group(0).lower().startswith("<link"):
            tag = text[match.start():text.find(">", match.start()) + 1]
            if is_own_canonical_link(tag, url):
                continue
        hits.append(match.group(0))
    return hits

# nbgrader's markers around solution code and hidden tests.
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def built_pages(html_dir):
    return sorted(html_dir.rglob("*.html"))


def test_every_toc_page_is_built(built_book):
    missing = [page for page in toc_pages() if not (built_book / f"{page}.html").is_file()]
    assert not missing, f"pages of _toc.yml missing from the build: {missing}"


def test_no_resource_loads_from_the_internet(built_book):
    files = built_pages(built_book) + sorted((built_book / "_static").rglob("*.css"))
    offenders = {}
    for path in files:
        hits = external_resources(path.read_text(errors="replace"), book_url())
        if hits:
            offenders[str(path.relative_to(built_book))] = hits[:3]
    assert not offenders, f"external scripts/styles/fonts: {offenders}"


def test_every_page_names_its_published_address(built_book):
    # html.baseurl is book_url: each page's canonical link is where the workflow
    # (.github/workflows/pages.yml) publishes it, the address the exercises link to.
    url = book_url()
    for page in toc_pages():
        text = (built_book / f"{page}.html").read_text()
        links = [tag for tag in re.findall(r"<link\b[^>]*>", text, re.IGNORECASE)
                 if is_own_canonical_link(tag, url)]
        assert len(links) == 1, f"{page}: canonical links {links}"
        assert f'href="{url}/{page}.html"' in links[0], f"{page}: {links[0]}"


def test_vendored_mathjax_is_loaded_once_and_only_by_reference(built_book):
    # Every .js under a root _static/ folder would be injected into every page; the
    # vendored MathJax must only appear as its one entry point.
    for path in built_pages(built_book):
        scripts = re.findall(r"""<script\b[^>]*\bsrc\s*=\s*["']([^"']*mathjax[^"']*)""",
                             path.read_text(), re.IGNORECASE)
        assert len(scripts) <= 1, f"{path.name} loads several MathJax files: {scripts}"
    assert (built_book / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()


def test_static_layer_replaces_the_kernel_widget_view(built_book):
    """Pages show book.widgets' kernel-free layer, never a widget view (dead without a kernel)."""
    for path in built_pages(built_book):
        text = path.read_text()
        assert "application/vnd.jupyter.widget-view+json" not in text, path.name
        assert "require.min.js" not in text and "embed-amd.js" not in text, path.name
    how_to = (built_book / "chapters" / "how-to-use.html").read_text()
    assert 'class="book-explorer"' in how_to and 'class="book-explorer-slider"' in how_to


def test_no_solution_or_hidden_test_is_published(built_book):
    published = [p for p in built_book.rglob("*") if p.is_file()]
    leaked_paths = [str(p.relative_to(built_book)) for p in published
                    if {"solutions", "exercises"} & set(p.relative_to(built_book).parts)]
    assert not leaked_paths, f"assignment files published: {leaked_paths[:5]}"
    for path in published:
        if path.suffix in {".html", ".txt", ".md", ".ipynb", ".js"} and "_static" not in path.parts:
            text = path.read_text(errors="replace")
            found = [m for m in SOLUTION_MARKERS if m in text]
            assert not found, f"{path.relative_to(built_book)} contains {found}"


# ---- The build machinery: stale outputs and failing cells -------------------------

def make(*args):
    result = subprocess.run(["make", "-s", "-C", str(ROOT), *args], capture_output=True,
                            text=True, check=True)
    return result.stdout.strip()


def test_changed_book_code_forces_a_full_rebuild(tmp_path):
    source, stored = tmp_path / "module.py", tmp_path / "hash"
    source.write_text("RATE = 1\n")
    sources = f"BOOK_SOURCES={source}"
    stored.write_text(make("book-hash", sources) + "\n")
    unchanged = make("-n", "book", sources, f"BOOK_HASH_FILE={stored}")
    assert "jupyter-book build" in unchanged and "--all" not in unchanged
    source.write_text("RATE = 2\n")
    changed = make("-n", "book", sources, f"BOOK_HASH_FILE={stored}")
    assert "jupyter-book build" in changed and "--all" in changed


def test_book_hash_covers_every_python_and_script_file_of_book():
    files = sorted(p for p in (ROOT / "book").rglob("*") if p.suffix in {".py", ".js"}
                   and "__pycache__" not in p.parts)
    files.sort(key=lambda p: str(p.relative_to(ROOT)).encode())
    expected = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]
    assert make("book-hash") == expected


@pytest.mark.parametrize("cell, fails", [("print('fine')", False),
                                         ("raise RuntimeError('boom')", True)])
def test_a_failing_cell_fails_the_build(tmp_path, cell, fails):
    """A throw-away book with the real configuration and one page with one code cell."""
    shutil.copy(ROOT / "_config.yml", tmp_path)
    for name in ("_vendor", "book"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    (tmp_path / "references.bib").write_text("")
    (tmp_path / "page.md").write_text(
        "---\njupytext:\n  text_representation:\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n"
        f"# A page\n\n```{{code-cell}} ipython3\n{cell}\n```\n")
    result = subprocess.run([str(JUPYTER_BOOK), "build", str(tmp_path), "-W", "-n",
                             "--keep-going"], capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert (result.returncode != 0) == fails, log[-3000:]
    assert ("Executing notebook failed" in log) == fails, log[-3000:]


# Text that a cell output shows when a rich display fell back to plain text: a
# matplotlib figure nobody rendered, or a Markdown table parsed as a paragraph.
UNRENDERED_OUTPUT = re.compile(r"&lt;Figure size|\|\s*:?-{3,}:?\s*\|")


def test_figures_and_tables_render_as_images_and_tables(built_book):
    offenders = {}
    for path in built_pages(built_book):
        hits = [m.group(0) for m in UNRENDERED_OUTPUT.finditer(path.read_text())]
        if hits:
            offenders[str(path.relative_to(built_book))] = hits[:3]
    assert not offenders, f"outputs shown as raw text: {offenders}"


def test_each_sidebar_toggle_is_on_a_page_once(built_book):
    """The theme's script binds only the first .primary-toggle / .secondary-toggle of a
    page: a second one (pydata-sphinx-theme's navbar) left the visible buttons dead on
    phones and desktops (pydata-sphinx-theme #2451). The browser tests click them."""
    for page in toc_pages():
        toggles = re.findall(r'<button class="([^"]*sidebar-toggle[^"]*)"',
                                  (built_book / f"{page}.html").read_text())
        for toggle in ("primary-toggle", "secondary-toggle"):
            count = sum(toggle in classes.split() for classes in toggles)
            assert count == 1, f"{page}: {count} buttons .{toggle}"
