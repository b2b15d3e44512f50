"""The rendered page's frame, for a phone and for assistive technology.

Whatever renders the report (Quarto or pandoc), the HTML then gets:

- **phone figures**: a figure with a phone rendering beside it (``NAME.phone.png``, drawn by
  ``plots.for_phone``) is served as ``<picture>``, the phone's image for a narrow screen
  (``PHONE_MEDIA``), embedded like the wide one;
- **tables a keyboard can scroll**: every table sits in a region of its own
  (``role="region"``, ``tabindex="0"``, named by its caption or its section) that scrolls
  sideways on a narrow screen, so a keyboard user can reach and scroll it;
- **contents a phone folds**: pandoc's contents are a ``<details>``, open in a wide screen's
  sidebar, folded on a narrow one (a click opens them), so that the answers start on a
  phone's first screen;
- **landmarks**: the content after the title block and the contents is the page's ``<main>``
  (Quarto's page has one already), so that nothing sits outside a landmark.

The markdown side (``phone_figures``) names each figure's phone rendering in an attribute
(``data-phone``) that both renderers pass through to the ``<img>``.
"""

from __future__ import annotations

import base64
import html as htmllib
import re
from pathlib import Path

PHONE_SUFFIX = ".phone.png"
PHONE_MEDIA = "(max-width: 640px)"  # below it, a wide figure's text would read under 9 px


def phone_path(path: Path) -> Path:
    """Where the phone's rendering of the figure ``path`` goes."""
    return path.with_name(path.stem + PHONE_SUFFIX)


_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)(\{[^}]*\})?")


def phone_figures(md: str, base: Path) -> str:
    """Markdown whose images name their phone rendering (``data-phone``) where one exists
    beside the image (paths relative to ``base``)."""
    def named(m: re.Match) -> str:
        phone = phone_path(Path(m.group(2)))
        if not (base / phone).is_file():
            return m.group(0)
        attr = f'data-phone="{phone.as_posix()}"'
        attrs = m.group(3)
        attrs = "{" + attr + "}" if attrs is None else attrs[:-1].rstrip() + " " + attr + "}"
        return f"![{m.group(1)}]({m.group(2)}){attrs}"

    return _IMAGE.sub(named, md)


def _text(fragment: str) -> str:
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def _pictures(page: str, base: Path) -> str:
    def served(m: re.Match) -> str:
        tag = m.group(0)
        phone = re.search(r'\sdata-phone="([^"]*)"', tag)
        if phone is None:
            return tag
        data = base64.b64encode((base / htmllib.unescape(phone.group(1))).read_bytes())
        img = tag.replace(phone.group(0), "")
        return (f'<picture><source media="{PHONE_MEDIA}" type="image/png" '
                f'srcset="data:image/png;base64,{data.decode()}">{img}</picture>')

    return re.sub(r"<img\b[^>]*>", served, page)


def _tables(page: str) -> str:
    out, at, heading, used = [], 0, "the report", {}
    for m in re.finditer(r"<h[1-3]\b[^>]*>(.*?)</h[1-3]>|<table\b.*?</table>", page, re.S):
        if m.group(1) is not None:
            heading = _text(m.group(1)) or heading
            continue
        caption = re.search(r"<caption\b[^>]*>(.*?)</caption>", m.group(0), re.S)
        label = _text(caption.group(1)) if caption else f"Table: {heading}"
        used[label] = used.get(label, 0) + 1
        if used[label] > 1:
            label = f"{label} ({used[label]})"
        out += [page[at:m.start()],
                f'<div class="table-scroll" role="region" tabindex="0" '
                f'aria-label="{htmllib.escape(label)}">', m.group(0), "</div>"]
        at = m.end()
    return "".join(out) + page[at:]


_CONTENTS = re.compile(r'(<nav id="TOC"[^>]*>\s*)(<h2 id="toc-title">.*?</h2>)(.*?)(</nav>)',
                       re.S)
# the contents start folded on a narrow screen (the sidebar of a wide one stays open); without
# scripts they stay open everywhere
_FOLD = ("<script>(function () { var d = document.querySelector('#TOC details'); "
         "if (d && matchMedia('(max-width: 999.98px)').matches) d.open = false; })();</script>")


def _contents(page: str) -> str:
    """pandoc's contents as a ``<details>`` that a phone shows folded: its 13 entries would
    otherwise fill the first screen before any answer (Quarto's page has its own)."""
    def folded(m: re.Match) -> str:
        return (f'{m.group(1)}<details class="toc" open><summary>{m.group(2)}</summary>'
                f'{m.group(3)}</details>{_FOLD}{m.group(4)}')

    return _CONTENTS.sub(folded, page, count=1)


def _main(page: str) -> str:
    if re.search(r"<main\b", page):
        return page
    start = page.find("</nav>")  # the contents: pandoc writes them right after the title
    if start < 0:
        start = page.find("</header>")
        start = start + len("</header>") if start >= 0 else page.index(">", page.index("<body")) + 1
    else:
        start += len("</nav>")
    end = page.rindex("</body>")
    return page[:start] + '\n<main id="content">' + page[start:end] + "</main>\n" + page[end:]


def finish(page: str, base: Path) -> str:
    """The rendered report with phone figures, keyboard-scrollable tables and a ``<main>``
    landmark (figure paths relative to ``base``)."""
    return _main(_contents(_tables(_pictures(page, base))))
