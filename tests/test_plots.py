import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from dropout_study.plots import band, per_x  # noqa: E402


def test_a_condition_without_stable_runs_is_drawn_as_a_legend_entry_only():
    empty = per_x(pd.DataFrame({"epoch": [], "acc": []}), "epoch", "acc", 0.95, (0.0, 1.0))
    assert empty.empty and empty["mean"].dtype == float
    fig, ax = plt.subplots()
    line = band(ax, empty["epoch"], empty["mean"], empty["lo"], empty["hi"], "none")
    assert line.get_label() == "none (no stable run)" and len(line.get_xdata()) == 0
    plt.close(fig)


def test_bands_stay_inside_the_range_of_their_quantity():
    d = pd.DataFrame({"epoch": [1, 1, 1, 2, 2, 2], "acc": [0.99, 0.5, 0.995, 0.1, 0.0, 0.02]})
    s = per_x(d, "epoch", "acc", 0.95, (0.0, 1.0))
    assert s["hi"].max() <= 1.0 and s["lo"].min() >= 0.0


def test_wide_figures_get_text_that_reads_at_the_report_width():
    import matplotlib.pyplot as plt

    from dropout_study.plots import SHOWN_INCHES, legible

    wide, ax = plt.subplots(figsize=(2 * SHOWN_INCHES, 4))
    ax.set_title("t", fontsize=10)
    assert legible(wide) == 2.0 and ax.title.get_fontsize() == 20
    narrow, ax = plt.subplots(figsize=(SHOWN_INCHES / 2, 4))
    ax.set_title("t", fontsize=10)
    assert legible(narrow) == 1.0 and ax.title.get_fontsize() == 10
    huge, ax = plt.subplots(figsize=(5 * SHOWN_INCHES, 4))
    ax.set_title("t", fontsize=10)
    assert legible(huge) == 2.0 and ax.title.get_fontsize() == 20  # at most twice
    plt.close("all")


@pytest.mark.filterwarnings("error::UserWarning")  # a collapsed layout warns
def test_a_long_legend_entry_is_wrapped_to_a_phone_s_width(tmp_path):
    """A legend entry longer than its panel would widen the phone figure past the screen (it
    did: exercise 6's 'Gaussian approximation of per-example DropConnect', 842 px)."""
    from PIL import Image

    from dropout_study.plots import PHONE_MAX_PIXELS, for_phone, panels, save

    def figure(label: str):
        fig, axes = panels(2, figsize=(13, 4.4))
        for ax in axes:
            ax.plot([0, 1], [0, 1], label=label)
            ax.plot([0, 1], [1, 0], label="short")
            ax.legend(loc="center left")
        return fig

    with for_phone():
        long = save(figure("a very long legend entry that names a scheme in full, twice over"),
                    tmp_path / "long.png")
        short = save(figure("short"), tmp_path / "short.png")
    assert Image.open(long).width <= PHONE_MAX_PIXELS
    assert Image.open(long).width <= Image.open(short).width + 2  # no wider than without it


def test_overlapping_texts_are_found_and_a_clean_figure_has_none():
    """Issue 31 (referee, 18): figure 6's axis labels ran over the next panel's."""
    from dropout_study.plots import overlapping_texts

    fig, axes = plt.subplots(1, 2, figsize=(4, 2))
    for ax in axes:
        ax.set_xlabel("an x label far too long for a panel this small", fontsize=12)
        ax.set_ylabel("y", fontsize=12)
    pairs = overlapping_texts(fig)
    label = "an x label far too long for a panel this small"
    assert (label, label) in pairs  # the two panels' x labels run into each other
    clean, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    ax.plot([0, 1], [0, 1], label="line")
    ax.set(title="title", xlabel="x", ylabel="y")
    ax.legend()
    assert overlapping_texts(clean) == []
    plt.close("all")


def test_annotations_count_among_the_texts_that_may_not_overlap():
    """Referee read 3: exercise 5's "none" and "dropout" stars, both at λ = 0, were labelled
    on top of each other; the overlap check did not look at annotations."""
    from dropout_study.plots import overlapping_texts

    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    ax.plot([1, 1], [0.5, 0.51], "k*")
    ax.set_ylim(0, 1)  # the two points a few pixels apart
    ax.annotate("none", (1, 0.5), textcoords="offset points", xytext=(4, 6))
    ax.annotate("dropout", (1, 0.51), textcoords="offset points", xytext=(4, 6))
    assert ("none", "dropout") in overlapping_texts(fig)
    plt.close("all")


def test_save_records_each_figures_overlapping_texts(tmp_path):
    from dropout_study.plots import OVERLAPS, save

    fig, axes = plt.subplots(1, 2, figsize=(4, 2))
    for ax in axes:
        ax.set_xlabel("an x label far too long for a panel this small", fontsize=12)
    save(fig, tmp_path / "crowded.png")
    assert OVERLAPS[str(tmp_path / "crowded.png")]
    clean, ax = plt.subplots(figsize=(6, 4))
    ax.set(xlabel="x", ylabel="y")
    save(clean, tmp_path / "clean.png")
    assert OVERLAPS[str(tmp_path / "clean.png")] == []


def test_zero_on_a_log_axis_is_ticked_zero_and_the_decades_as_they_are():
    """Referee read 3: exercise 5's λ = 0, drawn a decade below the smallest decay, carried
    that decade's tick (10⁻⁶) as if it were a decay that was run."""
    from dropout_study.plots import zero_on_log_x

    fig, ax = plt.subplots()
    ax.plot([1e-6, 1e-5, 1e-4, 3e-3], [1, 2, 3, 4])
    zero_on_log_x(ax, 1e-6, [1e-5, 1e-4, 3e-4, 1e-3, 3e-3])
    assert list(ax.get_xticks()) == pytest.approx([1e-6, 1e-5, 1e-4, 1e-3])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "$10^{-5}$", "$10^{-4}$",
                                                             "$10^{-3}$"]
    assert ax.get_xscale() == "log" and len(ax.xaxis.get_minorticklocs()) == 0
    plt.close("all")
