"""The pages of the book, as listed in _toc.yml (shared by the book and browser tests)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_pages():
    """Docnames of every page in _toc.yml (root first), e.g. ``chapters/sgd``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", [{"chapters": toc.get("chapters")}]):
        walk(part.get("chapters"))
    return [str(Path(page).with_suffix("")) for page in pages]
