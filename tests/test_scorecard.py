"""The intro's scorecard: chapters record, the intro reads; the site reads the intro last."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from d2mlib import site, stats, verdicts
from d2mlib.errors import ConfigError
from d2mlib.studies import scorecard
from d2mlib.viz import plot_pipeline


def test_record_then_table_shows_the_chapter_value(tmp_path) -> None:
    path = scorecard.record(tmp_path, "beats", "hit rate 40% against 35%", "confirmed")
    assert json.loads(path.read_text())["verdict"] == "confirmed"
    card = scorecard.table(tmp_path).set_index("key")
    assert card.loc["beats", "measured"] == "hit rate 40% against 35%"
    assert card.loc["beats", "verdict"] == "confirmed"
    # a claim no chapter recorded is shown as not measured, never with a value
    assert card.loc["realism", "verdict"] == "not measured"
    assert card.loc["realism", "measured"] == scorecard.NOT_RUN
    assert list(card.index) == [c.key for c in scorecard.CLAIMS]


def test_record_rejects_unknown_claims_verdicts_and_empty_values(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown claim 'nope'"):
        scorecard.record(tmp_path, "nope", "1", "confirmed")
    with pytest.raises(ConfigError, match="verdict must be one of"):
        scorecard.record(tmp_path, "beats", "1", "likely")
    with pytest.raises(ConfigError, match="needs a measured value"):
        scorecard.record(tmp_path, "beats", "  ", "refuted")
    assert not (tmp_path / "scorecard" / "beats.json").exists()


def test_a_corrupt_record_reads_as_not_measured(tmp_path) -> None:
    scorecard.record(tmp_path, "gpu", "no GPU", "not measured")
    (tmp_path / "scorecard" / "beats.json").write_text('{"verdict": "confir')  # truncated
    card = scorecard.table(tmp_path).set_index("key")
    assert card.loc["beats", "verdict"] == "not measured"
    assert card.loc["gpu", "measured"] == "no GPU"


def test_combined_refutes_on_any_refutation_and_confirms_only_on_all() -> None:
    assert scorecard.combined(["confirmed", "confirmed"]) == "confirmed"
    assert scorecard.combined(["confirmed", "inconclusive"]) == "inconclusive"
    assert scorecard.combined(["confirmed", "refuted", "inconclusive"]) == "refuted"
    with pytest.raises(ConfigError):
        scorecard.combined([])
    with pytest.raises(ConfigError, match="unknown verdicts"):
        scorecard.combined(["maybe"])


def test_a_rule_verdict_reaches_the_card(tmp_path) -> None:
    """The chapters' path: a compare row -> claim_verdict -> record -> the intro's table."""
    rows = []
    for system, shift in (("full", 0.3), ("random_units", 0.0)):
        for seed in range(3):
            for clip in range(20):
                value = 0.4 + shift + 0.01 * ((seed * 7 + clip * 3) % 5)
                rows.append((system, "beat_hit_rate", seed, str(clip), value))
    table = pd.DataFrame(rows, columns=stats.COLUMNS)
    higher = {"beat_hit_rate": True}
    row = stats.compare(table, "random_units", metrics_higher_better=higher).iloc[0]
    scorecard.record(tmp_path, "beats", "0.7 against 0.4", verdicts.claim_verdict(row, "higher"))
    scorecard.record(tmp_path, "realism", "worse", verdicts.claim_verdict(row, "lower"))
    card = scorecard.table(tmp_path).set_index("key")
    assert card.loc["beats", "verdict"] == "confirmed"
    assert card.loc["realism", "verdict"] == "refuted"
    n = scorecard.counts(scorecard.table(tmp_path))
    assert n == {"confirmed": 1, "refuted": 1, "inconclusive": 0, "not measured": 6}
    assert scorecard.summary(scorecard.table(tmp_path)).startswith(
        "Of the 8 claims checked, this build confirms 1, refutes 1 and leaves 0 inconclusive; 6"
    )


def test_html_links_every_claim_to_its_chapter_and_escapes_text(tmp_path) -> None:
    scorecard.record(tmp_path, "beats", "<b>40%</b> & more", "inconclusive")
    html = scorecard.to_html(scorecard.table(tmp_path))
    for c in scorecard.CLAIMS:
        assert f'href="{c.chapter}.html"' in html
    assert "&lt;b&gt;40%&lt;/b&gt; &amp; more" in html
    assert html.count("<tr>") == len(scorecard.CLAIMS) + 1
    assert 'class="d2m-verdict d2m-not-measured"' in html


def test_site_reads_the_root_page_last_and_with_any_chapter() -> None:
    app = SimpleNamespace(config=SimpleNamespace(root_doc="book/intro"))
    docs = ["book/ablations", "book/intro", "book/style", "book/timing"]
    site._root_last(app, None, docs)
    assert docs == ["book/ablations", "book/style", "book/timing", "book/intro"]
    assert site._root_with_chapters(app, None, set(), {"book/style"}, set()) == ["book/intro"]
    assert site._root_with_chapters(app, None, {"book/intro"}, set(), set()) == []
    assert site._root_with_chapters(app, None, set(), set(), set()) == []


def test_pipeline_figure_has_a_box_per_step_and_readable_text() -> None:
    fig = plot_pipeline()
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.texts if t.get_fontweight() == "bold"]
    assert names[0] == "audio" and names[-1] == "dance" and len(names) == 7
    assert min(t.get_fontsize() for t in ax.texts) >= 9
    assert len(ax.get_legend().get_texts()) == 3
