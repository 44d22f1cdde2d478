"""Tests for d2mlib.viz: figures hold what they claim, animations are self-contained and in sync."""

from __future__ import annotations

import base64
import io
import re
import shutil

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from d2mlib import config, viz  # noqa: E402
from d2mlib.errors import D2MError, DataError  # noqa: E402
from d2mlib.skeleton import BONES, FPS  # noqa: E402

STANDING = np.array(
    [
        [128, 80],
        [128, 120],
        [100, 120],
        [90, 170],
        [85, 220],
        [156, 120],
        [166, 170],
        [171, 220],
        [110, 250],
        [108, 330],
        [106, 410],
        [146, 250],
        [148, 330],
        [150, 410],
    ],
    dtype=np.float32,
)
FRAME_RE = re.compile(r'frames\[\d+\] = "data:image/png;base64,')


def moving_dance(n_frames: int) -> np.ndarray:
    """A dance whose every frame differs: arms wave, the body drifts 2 px a frame."""
    t = np.arange(n_frames) / FPS
    poses = np.repeat(STANDING[None], n_frames, axis=0).copy()
    poses[:, 4, 1] -= 60 * np.abs(np.sin(2 * np.pi * t))
    poses[:, 7, 1] -= 60 * np.abs(np.cos(2 * np.pi * t))
    poses[:, :, 0] += 2.0 * np.arange(n_frames)[:, None]
    return poses


def tone(seconds: float, sr: int = 22050) -> np.ndarray:
    """A quiet 440 Hz tone."""
    return (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def html_text(out: object) -> str:
    """The HTML string of animate_dance's result (IPython HTML or str)."""
    return out if isinstance(out, str) else out.data


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- colours


def test_style_colours_are_distinct_and_the_same_by_name_or_index():
    synthetic, ballroom = {"ballet", "zumba", "hiphop"}, {"chacha", "rumba", "waltz", "tango"}
    assert set(viz.STYLE_COLOURS) == synthetic | ballroom
    assert len(set(viz.STYLE_COLOURS.values())) == 7
    assert viz.style_colour("Hip-hop") == viz.STYLE_COLOURS["hiphop"]
    assert viz.style_colour(0) == viz.STYLE_COLOURS["ballet"]
    assert viz.style_colour(2) == viz.style_colour("hiphop")
    with pytest.raises(ValueError, match="unknown style"):
        viz.style_colour("salsa")


# --------------------------------------------------------------------------- poses


def test_plot_pose_draws_one_line_per_bone_in_image_coordinates():
    fig = viz.plot_pose(STANDING, colour="#123456", label="me")
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert len(ax.lines) == len(BONES)
    for line, (a, b) in zip(ax.lines, BONES, strict=True):
        np.testing.assert_allclose(line.get_xdata(), STANDING[[a, b], 0])
        np.testing.assert_allclose(line.get_ydata(), STANDING[[a, b], 1])
        assert line.get_color() == "#123456"
    assert ax.yaxis_inverted()
    assert ax.get_aspect() == 1.0
    assert ax.get_xlabel() == "x (px)"
    assert ax.get_ylabel() == "y (px)"
    assert [h.get_label() for h in ax.get_legend_handles_labels()[0]] == ["me"]


def test_plot_pose_on_given_axes_returns_that_figure_and_keeps_y_inverted():
    fig, ax = plt.subplots()
    assert viz.plot_pose(STANDING, ax=ax) is fig
    viz.plot_pose(STANDING + 5, ax=ax, alpha=0.3)
    assert len(ax.lines) == 2 * len(BONES)
    assert ax.yaxis_inverted()


def test_plot_pose_rejects_a_wrong_shape():
    with pytest.raises(DataError):
        viz.plot_pose(np.zeros((13, 2)))
    with pytest.raises(ValueError, match="one pose"):
        viz.plot_pose(np.zeros((2, 14, 2)))


def test_plot_unit_draws_the_chosen_frames_side_by_side():
    unit = moving_dance(32)
    fig = viz.plot_unit(unit, frames=[0, 10, 31], style="zumba")
    ax = fig.axes[0]
    assert len(ax.lines) == 3 * len(BONES)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "10", "31"]
    assert "zumba" in ax.get_title()
    assert ax.yaxis_inverted()
    assert {line.get_color() for line in ax.lines} == {viz.STYLE_COLOURS["zumba"]}
    # the three poses occupy disjoint x ranges, left to right
    spans = [
        (
            min(line.get_xdata().min() for line in ax.lines[k * 13 : (k + 1) * 13]),
            max(line.get_xdata().max() for line in ax.lines[k * 13 : (k + 1) * 13]),
        )
        for k in range(3)
    ]
    assert spans[0][1] < spans[1][0] and spans[1][1] < spans[2][0]


def test_plot_unit_defaults_to_eight_evenly_spaced_frames():
    fig = viz.plot_unit(moving_dance(32))
    assert len(fig.axes[0].lines) == 8 * len(BONES)
    assert fig.axes[0].get_title()


def test_plot_units_grid_has_one_row_per_style_in_its_colour():
    units = {s: np.stack([moving_dance(32), moving_dance(32) + 3]) for s in config.STYLES}
    fig = viz.plot_units_grid(units, frames=4)
    assert len(fig.axes) == 3 * 2
    for r, style in enumerate(config.STYLES):
        for c in range(2):
            ax = fig.axes[2 * r + c]
            assert ax.get_title() == f"{style}, unit {c}"
            assert len(ax.lines) == 4 * len(BONES)
            assert {line.get_color() for line in ax.lines} == {viz.style_colour(style)}


# --------------------------------------------------------------------------- beats


def vertical_lines_at(ax) -> list[float]:
    """x positions of the axvline artists of an axes."""
    return sorted(
        float(line.get_xdata()[0])
        for line in ax.lines
        if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]
    )


def test_plot_beats_marks_every_beat_on_a_shared_time_axis():
    music = np.array([0.5, 1.0, 1.5])
    kin = np.array([0.55, 1.45])
    mel = np.random.default_rng(0).normal(size=(40, 30))
    speed = np.abs(np.sin(np.arange(29) / 3.0)) * 40
    fig = viz.plot_beats(np.arange(30) / FPS, mel, music, kin, speed=speed)
    top, bottom = fig.axes[0], fig.axes[1]
    assert vertical_lines_at(top) == sorted([*music, *kin])
    assert vertical_lines_at(bottom) == sorted([*music, *kin])
    assert len(bottom.lines) == len(music) + len(kin) + 1  # beats + the speed curve
    assert top.get_shared_x_axes().joined(top, bottom)
    assert bottom.get_xlabel() == "time (s)"
    assert bottom.get_ylabel() == "joint speed (px/s)"
    labels = top.get_legend_handles_labels()[1]
    assert labels == ["music beat", "kinematic beat"]


def test_plot_beats_without_mel_or_speed_draws_one_panel():
    fig = viz.plot_beats(np.arange(30) / FPS, None, [0.5, 1.0], [0.6])
    assert len(fig.axes) == 1
    assert vertical_lines_at(fig.axes[0]) == [0.5, 0.6, 1.0]
    assert fig.axes[0].get_xlabel() == "time (s)"
    with pytest.raises(ValueError, match="2 axes"):
        viz.plot_beats(None, None, [0.5], [0.6], speed=np.ones(10), ax=fig.axes[0])


# --------------------------------------------------------------------------- training curves


def metrics_frame(with_val: bool, negative: bool = False) -> pd.DataFrame:
    """A metrics.csv-like table: rec falls 100x, kl is flat, adv may go negative."""
    rows = []
    for step in range(0, 100, 10):
        values = {"rec": 100.0 / (1 + step), "kl": 0.5, "adv": -0.2 if negative else 0.7}
        for term, value in values.items():
            rows.append(dict(step=step, epoch=step // 50, split="train", term=term, value=value))
            if with_val and step % 50 == 0:
                rows.append(dict(step=step, epoch=step // 50, split="val", term=term, value=value))
    return pd.DataFrame(rows)


def test_plot_loss_curves_draws_one_line_per_term_and_uses_log_y_for_wide_spans():
    fig = viz.plot_loss_curves(metrics_frame(with_val=False))
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["rec (train)", "kl (train)", "adv (train)"]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "step"
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.arange(0, 100, 10))


def test_plot_loss_curves_adds_dashed_val_lines_and_filters_terms():
    fig = viz.plot_loss_curves(metrics_frame(with_val=True), terms=["kl", "adv"])
    ax = fig.axes[0]
    labels = sorted(line.get_label() for line in ax.lines)
    assert labels == ["adv (train)", "adv (val)", "kl (train)", "kl (val)"]
    assert {line.get_linestyle() for line in ax.lines if "val" in line.get_label()} == {"--"}
    assert ax.get_yscale() == "linear"  # 0.5..0.7 is not a wide span


def test_plot_loss_curves_keeps_linear_y_with_negative_terms_and_checks_columns():
    fig = viz.plot_loss_curves(metrics_frame(with_val=False, negative=True))
    assert fig.axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="lack columns"):
        viz.plot_loss_curves(pd.DataFrame({"step": [0], "value": [1.0]}))


# --------------------------------------------------------------------------- confusion


Y_TRUE = ["ballet"] * 5 + ["zumba"] * 4 + ["hiphop"] * 3
Y_PRED = ["ballet", "ballet", "ballet", "zumba", "zumba"]
Y_PRED += ["zumba", "zumba", "zumba", "hiphop"]
Y_PRED += ["hiphop", "hiphop", "ballet"]


def test_confusion_table_matches_a_hand_count():
    table = viz.confusion_table(Y_TRUE, Y_PRED, config.STYLES)
    expected = np.array([[3, 2, 0], [0, 3, 1], [1, 0, 2]])
    np.testing.assert_array_equal(table.to_numpy(), expected)
    assert list(table.index) == ["ballet", "zumba", "hiphop"]
    assert table.index.name == "true style"
    assert list(table.columns) == [
        "predicted as ballet",
        "predicted as zumba",
        "predicted as hiphop",
    ]


def test_confusion_table_takes_indices_and_rejects_unknown_labels():
    idx = {s: i for i, s in enumerate(config.STYLES)}
    by_index = viz.confusion_table(
        [idx[s] for s in Y_TRUE], [idx[s] for s in Y_PRED], config.STYLES
    )
    pd.testing.assert_frame_equal(by_index, viz.confusion_table(Y_TRUE, Y_PRED, config.STYLES))
    with pytest.raises(ValueError, match="tango"):
        viz.confusion_table(["tango"], ["ballet"], config.STYLES)


def annotation_grid(ax, n: int) -> np.ndarray:
    """The numbers written in the cells of a confusion plot, as an (n, n) array."""
    grid = np.full((n, n), np.nan)
    for text in ax.texts:
        x, y = text.get_position()
        grid[int(round(y)), int(round(x))] = float(text.get_text().rstrip("%"))
    return grid


def test_plot_confusion_rows_are_true_styles_and_percentages_sum_to_100():
    table = viz.confusion_table(Y_TRUE, Y_PRED, config.STYLES)
    fig = viz.plot_confusion(table, title="paper extractor")
    ax = fig.axes[0]
    grid = annotation_grid(ax, 3)
    np.testing.assert_allclose(grid.sum(axis=1), 100.0, atol=0.15)
    np.testing.assert_allclose(grid[0], [60.0, 40.0, 0.0])
    assert ax.get_xlabel() == "predicted as"
    assert ax.get_ylabel() == "true style"
    assert [t.get_text() for t in ax.get_yticklabels()] == list(config.STYLES)
    assert ax.get_title() == "paper extractor"


def test_plot_confusion_by_prediction_and_by_count():
    counts = viz.confusion_table(Y_TRUE, Y_PRED, config.STYLES).to_numpy()
    pred = annotation_grid(viz.plot_confusion(counts, config.STYLES, normalise="pred").axes[0], 3)
    np.testing.assert_allclose(pred.sum(axis=0), 100.0, atol=0.15)
    raw = annotation_grid(viz.plot_confusion(counts, config.STYLES, normalise=None).axes[0], 3)
    np.testing.assert_array_equal(raw, counts)
    with pytest.raises(ValueError, match="normalise"):
        viz.plot_confusion(counts, config.STYLES, normalise="rows")


# --------------------------------------------------------------------------- embeddings


def three_clusters(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """30 codes per style in 20-D, apart only along dimensions 5 and 9."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((3, 20))
    centres[1, 5] = 6.0
    centres[2, 9] = 6.0
    codes = np.concatenate([c + rng.normal(0.0, 0.3, size=(30, 20)) for c in centres])
    return codes, [s for s in config.STYLES for _ in range(30)]


def test_plot_embedding_2d_projects_three_clusters_apart():
    codes, styles = three_clusters()
    fig = viz.plot_embedding_2d(codes, styles)
    ax = fig.axes[0]
    points = {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections}
    assert set(points) == set(config.STYLES)
    assert all(p.shape == (30, 2) for p in points.values())
    centroids = {s: p.mean(axis=0) for s, p in points.items()}
    spread = max(np.linalg.norm(p - centroids[s], axis=1).max() for s, p in points.items())
    gaps = [
        np.linalg.norm(centroids[a] - centroids[b])
        for i, a in enumerate(config.STYLES)
        for b in config.STYLES[i + 1 :]
    ]
    assert min(gaps) > 2 * spread
    assert ax.get_xlabel().startswith("PC1")
    colours = {
        c.get_label(): matplotlib.colors.to_hex(c.get_facecolor()[0]) for c in ax.collections
    }
    assert colours == {s: viz.STYLE_COLOURS[s].lower() for s in config.STYLES}


def test_pca_2d_explains_most_variance_of_planar_data_and_is_deterministic():
    codes, _ = three_clusters(seed=1)
    proj, ratio = viz.pca_2d(codes)
    assert proj.shape == (90, 2)
    assert ratio.sum() > 0.8 and ratio[0] >= ratio[1]
    np.testing.assert_allclose(proj.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(viz.pca_2d(codes)[0], proj)
    with pytest.raises(ValueError, match="pca"):
        viz.plot_embedding_2d(codes, ["ballet"] * 90, method="tsne")


# --------------------------------------------------------------------------- results


def test_plot_metric_bars_shows_mean_and_std_over_seeds():
    df = pd.DataFrame(
        [
            dict(system=s, seed=k, metric=m, value=v)
            for s, vals in [("paper", [1.0, 2.0, 3.0]), ("improved", [4.0, 4.0, 7.0])]
            for k, v in enumerate(vals)
            for m in ("fid", "diversity")
        ]
    )
    fig = viz.plot_metric_bars(df, "fid")
    ax = fig.axes[0]
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    np.testing.assert_allclose([p.get_height() for p in bars.patches], [2.0, 5.0])
    segments = bars.errorbar.lines[2][0].get_segments()
    half_lengths = [abs(seg[1, 1] - seg[0, 1]) / 2 for seg in segments]
    np.testing.assert_allclose(half_lengths, [1.0, np.sqrt(3.0)])
    assert ax.get_ylabel() == "fid"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["paper\n(n=3)", "improved\n(n=3)"]
    seed_dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert sum(len(line.get_xdata()) for line in seed_dots) == 6
    with pytest.raises(ValueError, match="no rows"):
        viz.plot_metric_bars(df, "bleu")


def test_plot_timing_draws_one_line_per_device_with_log_axes_for_wide_spans():
    rows = [
        dict(batch=b, device=d, ms=b * (1.0 if d == "cpu" else 0.05) + 0.01 * r, rep=r)
        for b in (1, 4, 16, 64)
        for d in ("cpu", "gpu")
        for r in range(3)
    ]
    fig = viz.plot_timing(pd.DataFrame(rows), "batch", "ms", "device")
    ax = fig.axes[0]
    assert len(ax.containers) == 2
    assert ax.get_legend_handles_labels()[1] == ["cpu", "gpu"]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.containers[0].lines[0].get_ydata(), [1.01, 4.01, 16.01, 64.01])
    narrow = pd.DataFrame({"workers": [0, 1, 2], "s": [1.0, 1.2, 1.1]})
    fig2 = viz.plot_timing(narrow, "workers", "s")
    assert fig2.axes[0].get_xscale() == "linear" and fig2.axes[0].get_yscale() == "linear"


# --------------------------------------------------------------------------- animation


def test_animate_dance_embeds_one_audio_data_uri_and_no_external_url():
    html = html_text(viz.animate_dance(moving_dance(30), audio=tone(2.0), titles=["ballet"]))
    assert html.count("<audio") == 1
    assert len(re.findall(r'<audio [^>]*src="data:audio/wav;base64,', html)) == 1
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html.lower()
    assert 'class="fa' not in html
    assert len(FRAME_RE.findall(html)) == 30
    assert html.isascii()


def test_animate_dance_frames_are_small_palette_pngs_of_the_figure():
    html = html_text(viz.animate_dance(moving_dance(3), dpi=50, panel_size=(2.0, 3.0)))
    b64 = re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]*)"', html)
    assert len(b64) == 3
    with Image.open(io.BytesIO(base64.b64decode(b64[0]))) as im:
        assert im.mode == "P"
        assert im.size == (100, 150)
        assert len(im.getcolors()) <= 32


def test_animate_dance_audio_is_trimmed_to_the_dance_and_decodes():
    html = html_text(viz.animate_dance(moving_dance(30), audio=tone(5.0), audio_sr=None))
    b64 = re.search(r'src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"', html).group(1)
    y, sr = sf.read(io.BytesIO(base64.b64decode(b64)))
    assert sr == 22050
    assert abs(len(y) - 2 * 22050) <= 1  # 30 frames at 15 fps = 2 s
    assert 0.25 < np.abs(y).max() < 0.35
    small = html_text(viz.animate_dance(moving_dance(30), audio=tone(5.0)))
    b64 = re.search(r'src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"', small).group(1)
    info = sf.info(io.BytesIO(base64.b64decode(b64)))
    assert info.samplerate == 16000 and info.subtype == "PCM_16"


def test_animate_dance_subsamples_frames_and_guards_the_frame_count():
    assert len(FRAME_RE.findall(html_text(viz.animate_dance(moving_dance(30), step=3)))) == 10
    capped = html_text(viz.animate_dance(moving_dance(30), max_frames=7))
    assert len(FRAME_RE.findall(capped)) == 6  # step raised to 5
    assert "var rate" not in capped and "<audio" not in capped  # no audio, no sync script


def test_animate_dance_puts_dances_side_by_side_and_uses_fresh_ids():
    first = html_text(viz.animate_dance([moving_dance(20), moving_dance(12)], audio=tone(2)))
    second = html_text(viz.animate_dance(moving_dance(12), audio=tone(1)))
    assert len(FRAME_RE.findall(first)) == 20  # the longer dance sets the length
    ids = [re.search(r'<audio id="([^"]+)"', h).group(1) for h in (first, second)]
    assert ids[0] != ids[1]
    for h, audio_id in zip((first, second), ids, strict=True):
        assert h.count(f'id="{audio_id}"') == 1
        assert f'getElementById("{audio_id}")' in h  # the sync script drives this audio


def test_animate_dance_returns_a_displayable_html_object():
    pytest.importorskip("IPython")
    out = viz.animate_dance(moving_dance(4))
    assert hasattr(out, "_repr_html_")
    assert isinstance(viz.animate_dance(moving_dance(4), as_str=True), str)


def test_viz_leaves_rcparams_alone_and_prints_nothing(capsys):
    before = dict(matplotlib.rcParams)
    viz.animate_dance(moving_dance(5), audio=tone(0.5))
    viz.plot_unit(moving_dance(8))
    viz.plot_confusion(np.eye(3), config.STYLES)
    assert dict(matplotlib.rcParams) == before
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_save_animation_writes_a_gif_with_one_frame_per_shown_pose(tmp_path):
    path = viz.save_animation(moving_dance(12), tmp_path / "dance.gif")
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == 12
    with Image.open(viz.save_animation(moving_dance(12), tmp_path / "half.gif", step=2)) as im:
        assert im.n_frames == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dance.gif", "half.gif"]  # no temp files
    assert viz.save_animation(moving_dance(4), tmp_path / "mute.gif", audio=tone(1.0)).is_file()
    with pytest.raises(D2MError, match="dance.mp4: save_animation writes .gif or .html"):
        viz.save_animation(moving_dance(4), tmp_path / "dance.mp4")


def test_save_animation_writes_a_standalone_html_page_with_music(tmp_path):
    path = viz.save_animation(moving_dance(6), tmp_path / "dance.html", audio=tone(1.0))
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<audio") == 1 and "data:audio/wav;base64," in page
    assert len(FRAME_RE.findall(page)) == 6
    assert "http://" not in page and "https://" not in page


# --------------------------------------------------------------------------- in a browser


@pytest.mark.browser
def test_animation_frame_follows_the_audio_in_headless_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH")
    html = html_text(viz.animate_dance(moving_dance(45), audio=tone(3.0)))
    anim_id = re.search(r'<audio id="d2m_audio_([0-9a-f]+)"', html).group(1)
    page_path = tmp_path / "page.html"
    page_path.write_text(f'<!doctype html><meta charset="utf-8"><body>{html}</body>')
    offsite: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
        )
        try:
            page = browser.new_page()
            page.on("request", lambda r: offsite.append(r.url) if r.url[:5] != "file:" else None)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri())
            page.wait_for_function(f"window['anim{anim_id}'] !== undefined")
            page.click(f'#d2m_dance_{anim_id} button[title="Play"]')
            page.wait_for_function(
                f"document.getElementById('d2m_audio_{anim_id}').currentTime > 0.6"
            )
            page.click(f'#d2m_dance_{anim_id} button[title="Pause"]')
            page.wait_for_timeout(100)
            frame, t, paused = page.evaluate(
                f"[window['anim{anim_id}'].current_frame,"
                f" document.getElementById('d2m_audio_{anim_id}').currentTime,"
                f" document.getElementById('d2m_audio_{anim_id}').paused]"
            )
            assert paused
            assert abs(frame - int(t * FPS)) <= 1
            page.click(f'#d2m_dance_{anim_id} button[title="Last frame"]')
            page.wait_for_timeout(100)
            t_end = page.evaluate(f"document.getElementById('d2m_audio_{anim_id}').currentTime")
            assert abs(t_end - 44 / FPS) < 0.05  # seeking the animation seeks the music
        finally:
            browser.close()
    assert offsite == []
    assert errors == []
