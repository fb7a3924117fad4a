"""What a reader sees on every page of the built book, in headless Chromium at a laptop's
window size: no TeX or pipe-table source left as text, and figures wide enough to read.

A `$$` that shares a line with prose, a wrapped line that Markdown reads as a list
item, or a table cell with a bare `|` leaves the source in the page: MathJax never
sees it and the other tests only look for math it did see. Uses the server and
browser fixtures of test_browser.py.
"""

import pytest
from book_pages import toc_pages
from test_browser import PageProblems, browser, server  # noqa: F401 (fixtures)

# A laptop window at 100% zoom.
DESKTOP = {"width": 1280, "height": 800}
# Narrowest a figure may be shown at: at this width a figure made at the book's sizes
# (8 to 9 inches wide, text of 9 pt and more) keeps its text at a readable size.
MIN_FIGURE_WIDTH = 480

# Text nodes of the rendered prose (not code, scripts or MathJax's output) that hold TeX
# source ($$ or a TeX command such as \frac, \sqrt, \beta) or the rule line of a pipe table.
FIND_SOURCE_TEXT = r"""() => {
  const skip = "PRE, CODE, SCRIPT, STYLE, TEXTAREA, MJX-CONTAINER, MJX-ASSISTIVE-MML, .highlight";
  const tex = /\$\$|\\[A-Za-z]{2,}/;
  // The rule line |---|, also after smart quotes made its dashes an em or en dash.
  const tableRule = /\|\s*:?(-{3,}|[\u2013\u2014]+):?\s*\|/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest(skip)) continue;
    const text = node.textContent;
    if (tex.test(text) || tableRule.test(text)) found.push(text.trim().slice(0, 100));
  }
  return found;
}"""

# Displayed width of every figure image of the page: cell outputs and slider frames.
FIGURE_WIDTHS = """() => Array.from(document.querySelectorAll(
    ".cell_output img, img.book-explorer-image")).map(img => ({
  src: (img.getAttribute("src") || "").slice(-40),
  width: img.getBoundingClientRect().width}))"""


def open_page(browser, server, page_name):  # noqa: F811 (fixtures)
    page = browser.new_page(viewport=DESKTOP)
    PageProblems(page, server)  # keeps the page offline
    page.goto(f"{server}{page_name}.html", wait_until="load")
    if page.locator(".math").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=15_000)
        page.evaluate("() => MathJax.startup.promise")
    return page


@pytest.mark.parametrize("page_name", toc_pages())
def test_no_tex_or_table_source_is_left_in_the_prose(browser, server, page_name):  # noqa: F811
    page = open_page(browser, server, page_name)
    found = page.evaluate(FIND_SOURCE_TEXT)
    page.close()
    assert not found, f"source text rendered as prose on {page_name}: {found[:5]}"


@pytest.mark.parametrize("page_name", toc_pages())
def test_every_figure_is_shown_wide_enough_to_read(browser, server, page_name):  # noqa: F811
    page = open_page(browser, server, page_name)
    page.wait_for_load_state("networkidle")
    narrow = [f for f in page.evaluate(FIGURE_WIDTHS) if f["width"] < MIN_FIGURE_WIDTH]
    page.close()
    assert not narrow, f"figures narrower than {MIN_FIGURE_WIDTH} px on {page_name}: {narrow}"


# Code cells shown open whose source starts with an import: how-to-use promises that a
# page's imports are folded behind "Show code cell source".
OPEN_IMPORT_CELLS = r"""() => Array.from(document.querySelectorAll(".cell:not(.tag_hide-input) .cell_input pre"))
  .map(pre => pre.textContent.trimStart()).filter(text => /^(import|from) /.test(text))
  .map(text => text.slice(0, 60))"""


@pytest.mark.parametrize("page_name", toc_pages())
def test_imports_are_folded_as_how_to_use_promises(browser, server, page_name):  # noqa: F811
    page = open_page(browser, server, page_name)
    open_imports = page.evaluate(OPEN_IMPORT_CELLS)
    page.close()
    assert not open_imports, f"import cells shown open on {page_name}: {open_imports}"
