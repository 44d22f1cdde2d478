"""Opening a chapter as a notebook in JupyterLab and saving it unchanged leaves its file as it was."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import jupytext
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupytext import AsyncTextFileContentsManager

from d2mlib import chapter
from d2mlib.errors import ConfigError
from tests.test_book import CHAPTERS, ROOT

FORMAT = chapter.CHAPTER_FORMAT

# A chapter as an editor might leave it: no jupytext version, no blank line after a tag block.
HAND_WRITTEN = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A question?

```{code-cell} ipython3
:tags: [parameters]
seed = 0
```

Some prose with {glue:text}`n`.

```{code-cell} ipython3
:tags: [remove-input]
print(seed)
```
"""


def _lab_edits(nb: dict, spec: dict) -> None:
    """What JupyterLab does to a notebook model it runs: kernelspec, language_info, ids, outputs."""
    nb["metadata"]["kernelspec"] = dict(spec)
    nb["metadata"]["language_info"] = {
        "name": "python",
        "version": "3.11.2",
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "codemirror_mode": {"name": "ipython", "version": 3},
    }
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"cell-{i}"
        if cell["cell_type"] == "code":
            cell["execution_count"] = i + 1
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
            cell["metadata"]["scrolled"] = True


def _save_through_lab(folder: Path, name: str, spec: dict) -> str:
    """GET the notebook model, edit it as Lab would, PUT it back; return the file's text after."""

    async def round_trip() -> None:
        manager = AsyncTextFileContentsManager(root_dir=str(folder))
        model = await manager.get(name)
        assert model["type"] == "notebook"
        nb = copy.deepcopy(model["content"])
        _lab_edits(nb, spec)
        await manager.save({"type": "notebook", "format": "json", "content": nb}, name)

    asyncio.run(round_trip())
    return (folder / name).read_text(encoding="utf-8")


def _installed_python3_spec() -> dict:
    spec = KernelSpecManager().get_kernel_spec("python3")
    return {"display_name": spec.display_name, "language": spec.language, "name": "python3"}


def test_canonical_form_is_what_jupytext_writes_and_is_stable() -> None:
    canon = chapter.canonical_text(HAND_WRITTEN)
    assert canon != HAND_WRITTEN
    assert "jupytext_version:" in canon and "format_version:" in canon
    assert "display_name: Python 3 (ipykernel)" in canon
    assert jupytext.writes(jupytext.reads(canon, fmt=FORMAT), fmt=FORMAT) == canon
    assert chapter.canonical_text(canon) == canon
    cells = jupytext.reads(canon, fmt=FORMAT).cells
    assert [c.source for c in cells] == [c.source for c in jupytext.reads(HAND_WRITTEN).cells]


def test_lab_kernelspec_is_the_installed_python3_kernel() -> None:
    assert _installed_python3_spec() == chapter.LAB_KERNELSPEC


def test_lab_save_of_an_unchanged_canonical_chapter_is_byte_identical(tmp_path: Path) -> None:
    source = (ROOT / "book" / "data.md").read_text(encoding="utf-8")
    canon = chapter.canonical_text(source)
    (tmp_path / "data.md").write_text(canon, encoding="utf-8")
    after = _save_through_lab(tmp_path, "data.md", _installed_python3_spec())
    assert after == canon


def test_lab_save_of_a_hand_written_chapter_shows_the_diff_normalise_removes(
    tmp_path: Path,
) -> None:
    (tmp_path / "c.md").write_text(HAND_WRITTEN, encoding="utf-8")
    after = _save_through_lab(tmp_path, "c.md", _installed_python3_spec())
    assert after != HAND_WRITTEN  # what a reader who only ran the chapter used to get
    assert after == chapter.canonical_text(HAND_WRITTEN)


def test_normalise_rewrites_only_what_differs_and_check_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hand, canon = tmp_path / "hand.md", tmp_path / "canon.md"
    hand.write_text(HAND_WRITTEN, encoding="utf-8")
    canon.write_text(chapter.canonical_text(HAND_WRITTEN), encoding="utf-8")
    assert chapter.main(["check", str(hand), str(canon)]) == 1
    assert f"{hand}: not in canonical form" in capsys.readouterr().out
    assert chapter.normalise([hand, canon]) == [hand]
    assert hand.read_text(encoding="utf-8") == canon.read_text(encoding="utf-8")
    assert chapter.main(["check", str(hand), str(canon)]) == 0
    with pytest.raises(ConfigError, match="missing.md: no such chapter file"):
        chapter.normalise([tmp_path / "missing.md"])


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_is_in_the_form_a_lab_save_leaves_unchanged(name: str) -> None:
    text = (ROOT / f"{name}.md").read_text(encoding="utf-8")
    assert chapter.canonical_text(text) == text, (
        f"{name}.md: a save from JupyterLab would rewrite it: "
        f"run python -m d2mlib.chapter normalise {name}.md"
    )
    assert jupytext.writes(jupytext.reads(text, fmt=FORMAT), fmt=FORMAT) == text
