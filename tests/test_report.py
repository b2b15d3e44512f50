from dropout_study.report import number_crossrefs, render_markdown


def test_crossrefs_are_numbered_for_pandoc():
    md = ("See @fig-b.\n\n![first](a.png){#fig-a}\n\n![second](b.png){#fig-b}\n\n"
          "Also @fig-a and @fig-unknown.")
    out = number_crossrefs(md)
    assert "![Figure 1: first](a.png){#fig-a}" in out
    assert "![Figure 2: second](b.png){#fig-b}" in out
    assert "See [Figure 2](#fig-b)." in out and "[Figure 1](#fig-a)" in out
    assert "@fig-unknown" in out


def minimal_context(**over) -> dict:
    """The smallest context the report templates render: provenance and no analysed section."""
    ctx = {"title": "t", "preset": "smoke", "k": 2, "level": 0.95, "instability_rule": "rule",
           "training": {"lr": 0.5}, "data": {"validation_size": 10, "split_seed": 0,
                                             "train_size": None},
           "config_yaml": "a: 1", "provenance": {
               "runs": 0, "jobs": 0, "models": 0, "diverged": 0, "train_seconds": 0.0,
               "devices": ["cpu"], "code_version": "x", "versions": {"torch": "2"}},
           "sections": []}
    return ctx | over


def test_missing_sections_are_marked_not_dropped():
    ctx = minimal_context(sections=[{"key": "layer_rates", "number": 1, "title": "Rates",
                                     "missing": "no results for layer_rates"}])
    md = render_markdown(ctx)
    assert "## Exercise 1: Rates" in md
    assert "not answered: no results for layer_rates" in md
    assert "callout-warning" in md
