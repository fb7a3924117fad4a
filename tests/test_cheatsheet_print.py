"""The cheat sheet prints: on a landscape A4 page (the page's print stylesheet asks for
it) every table of chapters/cheat-sheet fits the printed width, so no column is cut
off. Uses the server and browser fixtures of test_browser.py."""

from test_browser import PageProblems, browser, server  # noqa: F401 (fixtures)

# A4 landscape, 297 mm less the stylesheet's 1 cm margins, at CSS's 96 px per inch.
PRINTED_WIDTH = round((297 - 20) / 25.4 * 96)

TABLE_WIDTHS = """() => Array.from(document.querySelectorAll("article table")).map(t => ({
  table: t.scrollWidth, page: t.closest("article").clientWidth}))"""


def test_every_table_fits_a_printed_page(browser, server):  # noqa: F811 (fixtures)
    page = browser.new_page(viewport={"width": PRINTED_WIDTH, "height": 740})
    PageProblems(page, server)
    page.goto(f"{server}chapters/cheat-sheet.html", wait_until="load")
    page.evaluate("() => MathJax.startup.promise")
    page.emulate_media(media="print")
    widths = page.evaluate(TABLE_WIDTHS)
    page.close()
    assert len(widths) >= 3
    assert all(w["table"] <= w["page"] for w in widths), widths
