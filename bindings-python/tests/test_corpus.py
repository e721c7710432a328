"""The bad-input corpus (tests/corpus/make_corpus.py, issue 9) through Engine.process: every case
gives its expected outcome, the error class of its code or a headshot of the expected size.
The same manifest as the Rust, Node and C tests; `make corpus-data` writes it into target/corpus
(a prerequisite of `make py-test`), LICHTBILD_CORPUS points elsewhere."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import CONSENT, REPO

import lichtbild

MANIFEST = Path(os.environ.get("LICHTBILD_CORPUS", REPO / "target" / "corpus" / "manifest.json"))
if not MANIFEST.exists():
    raise RuntimeError(f"{MANIFEST} is missing: generate it with `make corpus-data`")
CASES: list[dict[str, Any]] = json.loads(MANIFEST.read_text())


def test_the_manifest_is_the_whole_corpus() -> None:
    assert len(CASES) > 100
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_case(engine: lichtbild.Engine, case: dict[str, Any]) -> None:
    data = (MANIFEST.parent / case["file"]).read_bytes()
    expect = case["expect"].split("|")
    try:
        result = engine.process(data, consent=CONSENT)
    except lichtbild.Error as e:
        # A typed error: a subclass named for its code, never the bare base class.
        assert type(e) is not lichtbild.Error and type(e).code == e.code, f"{type(e)}: {e}"
        assert e.code in expect, f"expected {case['expect']}, got {e.code}: {e}"
        return
    assert "ok" in expect, f"expected {case['expect']}, got a headshot"
    if expect != ["ok"]:
        return
    assert (result.format, result.width, result.height) == ("jpeg", case["width"], case["height"])
    assert result.image is not None and result.image[:3] == b"\xff\xd8\xff"
    codes = [f.code for f in result.findings]
    for absent in case["absent_findings"]:
        assert absent not in codes, f"finding {absent} reported: {result.findings}"
    for kind in case["metadata"]:
        assert kind in result.receipt["metadata_removed"], result.receipt["metadata_removed"]
