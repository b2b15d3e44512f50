"""The rendered page's frame: phone figures as <picture>, tables in keyboard-reachable
regions, a <main> landmark. Rendered with the real pandoc."""

import base64
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dropout_study import frame, plots, report  # noqa: E402

from .conftest import need  # noqa: E402


def figure(path, width):
    fig, ax = plt.subplots(figsize=(width, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(path, dpi=50)
    plt.close(fig)


def test_an_image_names_its_phone_rendering_only_where_one_exists(tmp_path):
    (tmp_path / "figures").mkdir()
    figure(tmp_path / "figures" / "a.png", 8)
    figure(tmp_path / "figures" / "a.phone.png", 4)
    figure(tmp_path / "figures" / "b.png", 8)
    md = ('![A](figures/a.png){#fig-a fig-alt="a"}\n\n![B](figures/b.png){#fig-b}\n\n'
          "![C](figures/a.png)\n")
    out = frame.phone_figures(md, tmp_path)
    assert '![A](figures/a.png){#fig-a fig-alt="a" data-phone="figures/a.phone.png"}' in out
    assert "![B](figures/b.png){#fig-b}" in out
    assert '![C](figures/a.png){data-phone="figures/a.phone.png"}' in out


def render(tmp_path, md: str) -> str:
    """``md`` through the real pandoc, its figure with a phone rendering beside it."""
    need("pandoc")
    (tmp_path / "figures").mkdir()
    figure(tmp_path / "figures" / "wide.png", 8)
    figure(tmp_path / "figures" / "wide.phone.png", 4)
    src = tmp_path / "page.md"
    src.write_text(report.number_crossrefs(frame.phone_figures(md, tmp_path)))
    css = tmp_path / "style.css"
    css.write_text("body { color: black; }")
    html = tmp_path / "page.html"
    report.pandoc_html(src, html, css)
    return frame.finish(html.read_text(), tmp_path)


PAGE = """---
title: A page
---

## First {#sec-first}

![The caption](figures/wide.png){#fig-wide fig-alt="A wide figure"}

| a | b |
|---|---|
| 1 | 2 |

: Run time per rule {#tbl-runtimes}

## Second

| c | d |
|---|---|
| 3 | 4 |

| e | f |
|---|---|
| 5 | 6 |
"""


def test_a_phone_gets_the_figure_drawn_for_it_and_the_wide_screen_the_wide_one(tmp_path):
    page = render(tmp_path, PAGE)
    [pic] = re.findall(r"<picture>.*?</picture>", page, re.S)
    source = re.search(r'<source media="([^"]+)" type="image/png" '
                       r'srcset="data:image/png;base64,([^"]+)">', pic)
    assert source and source.group(1) == frame.PHONE_MEDIA
    assert base64.b64decode(source.group(2)) == (tmp_path / "figures" / "wide.phone.png"
                                                 ).read_bytes()
    img = re.search(r"<img[^>]*>", pic).group(0)
    wide = re.search(r'src="data:image/png;base64,([^"]+)"', img).group(1)
    assert base64.b64decode(wide) == (tmp_path / "figures" / "wide.png").read_bytes()
    assert 'alt="A wide figure"' in img and "data-phone" not in page


def test_every_table_is_a_named_region_a_keyboard_can_reach(tmp_path):
    page = render(tmp_path, PAGE)
    regions = re.findall(r'<div class="table-scroll" role="region" tabindex="0" '
                         r'aria-label="([^"]+)">\s*<table', page)
    assert regions == ["Run time per rule", "Table: Second", "Table: Second (2)"]
    assert page.count("<table") == 3


def test_the_content_is_the_page_s_main_landmark_after_the_title_and_the_contents(tmp_path):
    page = render(tmp_path, PAGE)
    assert page.count("<main") == 1 and page.count("</main>") == 1
    main = page.index("<main")
    assert page.index("</header>") < main and page.index('<nav id="TOC"') < main
    assert main < page.index('id="sec-first"') < page.index("</main>") < page.index("</body>")


def test_a_page_with_its_own_main_keeps_it():
    page = "<html><body><nav></nav><main>x</main></body></html>"
    assert frame.finish(page, None) == page


def test_a_page_without_contents_gets_its_main_after_the_title_block():
    page = '<html><body>\n<header id="title-block-header">t</header>\n<p>x</p>\n</body></html>'
    out = frame.finish(page, None)
    assert out.index("</header>") < out.index('<main id="content">') < out.index("<p>x")


def test_the_phone_rendering_is_drawn_stacked_at_a_phone_s_width(tmp_path):
    fig, axes = plots.panels(3, figsize=(15, 4.5))
    assert fig.get_size_inches().tolist() == [15, 4.5] and len(axes) == 3
    assert len({round(ax.get_position().y0, 3) for ax in axes}) == 1  # side by side
    plt.close(fig)
    with plots.for_phone():
        fig, axes = plots.panels(3, figsize=(15, 4.5), gridspec_kw={"width_ratios": [1, 2, 1]})
        axes[0].set_title("small", fontsize=6)
        fig.canvas.draw()
        assert fig.get_size_inches()[0] == plots.PHONE_INCHES and len(axes) == 3
        assert len({round(ax.get_position().x0, 2) for ax in axes}) == 1  # one above another
        out = plots.save(fig, tmp_path / "f.png")
    assert out == tmp_path / "f.phone.png" and not (tmp_path / "f.png").exists()
    assert axes[0].title.get_fontsize() == plots.PHONE_MIN_PT
    width = plt.imread(out).shape[1]
    assert plots.PHONE_INCHES * plots.PHONE_DPI <= width <= plots.PHONE_MAX_PIXELS


def test_the_contents_are_open_by_default_and_folded_by_a_narrow_screen_s_script(tmp_path):
    page = render(tmp_path, PAGE)
    nav = page[page.index('<nav id="TOC"'):page.index("</nav>")]
    # every entry inside one open <details> whose summary is the contents' title
    assert re.search(r'<details class="toc" open><summary><h2 id="toc-title">', nav)
    assert nav.index("<details") < nav.index('<a href="#sec-first"') < nav.index("</details>")
    assert "matchMedia('(max-width: 999.98px)')" in nav and "d.open = false" in nav
    # and nothing else of the page moved into it
    assert page.count("<details") == 1 and page.index("</details>") < page.index("<main")
