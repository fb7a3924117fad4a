"""Every page of the built book in headless Chromium: offline, error-free, math rendered,
sliders alive; and its navigation on a phone (375 px) and a desktop.

The book is served from ``_build/html`` on 127.0.0.1; any request to another host is
blocked and reported. Uses Debian's Chromium (``make system-deps``), never a browser
download. Without Chromium the tests are skipped, except in CI (``CI=true``), where
they fail.
"""

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
from book_pages import toc_pages
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

# Text nodes that still hold TeX after MathJax ran: \( \) \[ \] delimiters, or $...$
# around something that looks like math. Code, scripts and MathJax's own output are
# not searched.
FIND_RAW_MATH = """() => {
  const skip = "PRE, CODE, SCRIPT, STYLE, TEXTAREA, MJX-CONTAINER, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest(skip)) continue;
    const text = node.textContent;
    if (/\\\\[()\\[\\]]/.test(text) || /\\$[^$\\s][^$]*[\\\\^_{}=][^$]*\\$/.test(text)) {
      raw.push(text.trim().slice(0, 80));
    }
  }
  return raw;
}"""

# What a figure shows: the image source and every polyline of its SVG overlay.
FIGURE_STATE = """(root) => [root.querySelector("img.book-explorer-image").src,
  ...Array.from(root.querySelectorAll("polyline")).map(l => l.getAttribute("points"))].join("|")"""

MOVE_SLIDER = """(input) => {
  input.value = Number(input.value) === Number(input.max) ? input.min : input.max;
  input.dispatchEvent(new Event("input", {bubbles: true}));
  return input.parentNode.querySelector("output").textContent;
}"""


def chromium_or_skip():
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing in CI: run `make system-deps`")
    pytest.skip(f"{CHROMIUM} is not installed (`make system-deps` installs it)")


@pytest.fixture(scope="module")
def server(built_book):
    """An HTTP server for the built book on a free local port; yields its base URL."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    chromium_or_skip()

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageProblems:
    """Collects what went wrong while a page loaded: console errors, failed requests."""

    def __init__(self, page, base):
        self.errors = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"console: {m.text} ({m.location.get('url')})"))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(
            f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(
            f"HTTP {r.status}: {r.url}"))
        page.route("**/*", functools.partial(self._local_only, base))

    def _local_only(self, base, route):
        url = route.request.url
        if url.startswith(base) or url.startswith("data:"):
            route.continue_()
        else:
            self.errors.append(f"external request: {url}")
            route.abort()


@pytest.mark.parametrize("page_name", toc_pages())
def test_page_in_browser(browser, server, page_name):
    page = browser.new_page()
    problems = PageProblems(page, server)
    page.goto(f"{server}{page_name}.html", wait_until="load")

    math_count = page.locator(".math").count()
    if math_count:
        try:
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                timeout=15_000)
        except PlaywrightTimeout:
            pytest.fail(f"MathJax did not start on a page with {math_count} formulas: "
                        + "; ".join(problems.errors))
        page.evaluate("() => MathJax.startup.promise")
        unrendered = page.evaluate(
            "() => Array.from(document.querySelectorAll('.math'))"
            ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))")
        assert not unrendered, f"math not rendered by MathJax: {unrendered[:5]}"
    assert not page.evaluate(FIND_RAW_MATH), "raw TeX left in the page text"

    for figure in page.locator("div.book-explorer").element_handles():
        assert figure.get_attribute("data-mounted") == "true", "a figure's script did not run"
        for slider in figure.query_selector_all("input.book-explorer-slider"):
            if slider.get_attribute("max") == "0":
                continue  # a one-value slider has nowhere to move
            before = figure.evaluate(FIGURE_STATE)
            label = slider.evaluate(MOVE_SLIDER)
            changed = figure.evaluate(FIGURE_STATE) != before
            assert changed, (f"moving slider {slider.get_attribute('aria-label')} to {label} "
                             "left the figure unchanged")

    page.wait_for_load_state("networkidle")
    page.close()
    assert not problems.errors, "\n".join(problems.errors)


# ---- Navigation: the table of contents on a phone and on a desktop ------------------

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


def book_url(how, server, built_book, page_name):
    """A page's address served over HTTP, or opened from disk as a reader may."""
    if how == "http":
        return f"{server}{page_name}.html"
    return (built_book / f"{page_name}.html").as_uri()


def open_page(browser, url, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(url, wait_until="load")
    return page


@pytest.mark.parametrize("how", ["http", "file"])
def test_phone_reader_opens_the_table_of_contents_and_follows_a_link(
        browser, server, built_book, how):
    page = open_page(browser, book_url(how, server, built_book, "chapters/curvature"), PHONE)
    navigation = page.locator("#pst-primary-sidebar-modal")
    assert not navigation.is_visible()
    page.locator(".primary-toggle:visible").click()
    navigation.wait_for(state="visible", timeout=5_000)
    # The drawer shows the whole book; its link to another chapter navigates there.
    navigation.get_by_role("link", name="Momentum", exact=True).click()
    page.wait_for_url("**/chapters/momentum.html")
    assert page.locator("h1").first.inner_text().startswith("Momentum")
    page.close()


@pytest.mark.parametrize("how", ["http", "file"])
def test_phone_reader_opens_the_page_contents_and_jumps_to_a_section(
        browser, server, built_book, how):
    page = open_page(browser, book_url(how, server, built_book, "chapters/curvature"), PHONE)
    contents = page.locator("#pst-secondary-sidebar-modal")
    page.locator(".secondary-toggle:visible").click()
    contents.wait_for(state="visible", timeout=5_000)
    contents.get_by_role("link", name="The stability limit").click()
    page.wait_for_url("**/chapters/curvature.html#the-stability-limit")
    page.close()


# The theme collapses the desktop sidebar by hiding it (and sliding it out of view).
SIDEBAR_VISIBILITY = "getComputedStyle(document.querySelector('#pst-primary-sidebar')).visibility"


def wait_for_sidebar(page, visibility):
    page.wait_for_function(f"() => {SIDEBAR_VISIBILITY} === '{visibility}'", timeout=5_000)


def test_desktop_sidebar_toggle_collapses_and_restores_the_sidebar(browser, server):
    page = open_page(browser, f"{server}chapters/adam.html", DESKTOP)
    toggle = page.locator(".primary-toggle:visible")
    assert toggle.count() == 1 and page.evaluate(f"() => {SIDEBAR_VISIBILITY}") == "visible"
    toggle.click()
    wait_for_sidebar(page, "hidden")
    assert not page.locator("#pst-primary-sidebar-modal").is_visible(), "opened a drawer instead"
    toggle.click()
    wait_for_sidebar(page, "visible")
    page.close()


# Whether the whole book title is drawn, unclipped and on top, inside the sidebar.
TITLE_IN_VIEW = """() => {
  const title = document.querySelector(".bd-sidebar-primary .logo__title");
  const sidebar = document.querySelector(".bd-sidebar-primary").getBoundingClientRect();
  const box = title.getBoundingClientRect();
  const inside = box.top >= sidebar.top && box.bottom <= sidebar.bottom && box.height > 0;
  const corners = [[box.left + 2, box.top + 2], [box.right - 2, box.bottom - 2]];
  return inside && corners.every(([x, y]) => title.contains(document.elementFromPoint(x, y)));
}"""


@pytest.mark.parametrize("page_name", ["chapters/curvature", "chapters/race"])
def test_desktop_sidebar_shows_the_whole_title_and_one_search_box(browser, server, page_name):
    page = open_page(browser, f"{server}{page_name}.html", DESKTOP)
    page.wait_for_load_state("networkidle")
    assert page.evaluate(TITLE_IN_VIEW), "the book's title is cut off or scrolled away"
    searches = page.locator(".search-button-field:visible, .search-button:visible")
    assert searches.count() == 1, f"{searches.count()} search boxes"
    page.close()
