"""The examples in examples/python run against the installed package and do what they say."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES, REPO
from PIL import Image

EXAMPLES = REPO / "examples" / "python"


def run(*args: object) -> str:
    r = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_headshot_example(tmp_path: Path) -> None:
    out = tmp_path / "headshot.jpg"
    stdout = run(EXAMPLES / "headshot.py", FIXTURES / "grace_hopper.jpg", out, "--preset", "bewerbung-35x45")
    assert Image.open(out).size == (413, 531)
    assert "413x531 px at 300 dpi" in stdout


def test_batch_folder_example(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for f in FIXTURES.iterdir():
        if f.suffix in (".jpg", ".png"):
            shutil.copy(f, photos)
    Image.new("RGB", (400, 500), "grey").save(photos / "empty-wall.png")
    stdout = run(EXAMPLES / "batch_folder.py", photos, tmp_path / "out", "--preset", "linkedin", "--threads", "2")
    made = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert made == ["astronaut.jpg", "grace_hopper.jpg"]
    assert all(Image.open(tmp_path / "out" / m).size == (800, 800) for m in made)
    assert "skipped empty-wall.png" in stdout and "(no_face)" in stdout
