"""Limits, back-pressure and time budgets on one engine, through the installed wheel: 64
threads at once give identical results, a full queue raises BusyError at once, a spent budget
raises TimeBudgetError (also a TimeoutError), and the engine keeps working after each."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import threading

import pytest
from conftest import CONSENT

import lichtbild


def digest(res: lichtbild.Result) -> str:
    assert res.image is not None
    return hashlib.sha256(res.image).hexdigest()


def test_64_threads_at_once_on_one_engine(engine: lichtbild.Engine, astronaut: bytes) -> None:
    # The default max_queue (64) takes all of them even before a worker has picked one up.
    reference = digest(engine.process(astronaut, consent=CONSENT))
    start = threading.Barrier(64)

    def one(_: int) -> str:
        start.wait()
        return digest(engine.process(astronaut, consent=CONSENT))

    with cf.ThreadPoolExecutor(64) as pool:
        results = list(pool.map(one, range(64)))
    assert results == [reference] * 64


def test_a_full_queue_raises_busy_at_once(astronaut: bytes) -> None:
    e = lichtbild.Engine(workers=1, max_queue=1)
    assert e.config["max_queue"] == 1
    start = threading.Barrier(8)

    def one(_: int) -> str | lichtbild.BusyError:
        start.wait()
        try:
            return digest(e.process(astronaut, consent=CONSENT))
        except lichtbild.BusyError as err:
            return err

    with cf.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    busy = [r for r in results if isinstance(r, lichtbild.BusyError)]
    done = [r for r in results if isinstance(r, str)]
    # A job takes tens of milliseconds: one runs, one waits, the others are refused.
    assert busy and done, results
    assert all(b.code == "busy" and "requests waiting" in str(b) for b in busy)
    assert len(set(done)) == 1
    assert digest(e.process(astronaut, consent=CONSENT)) == done[0]


def test_a_spent_time_budget_raises_timeout(astronaut: bytes) -> None:
    e = lichtbild.Engine(workers=1)
    # 1 ms cannot cover decode, detection and landmarks of a 512x512 photo.
    with pytest.raises(lichtbild.TimeBudgetError) as info:
        e.process(astronaut, consent=CONSENT, time_budget_ms=1)
    assert isinstance(info.value, TimeoutError) and info.value.code == "timeout" and "1 ms" in str(info.value)
    with pytest.raises(TimeoutError):  # the builtin catches it too
        e.process(astronaut, consent=CONSENT, time_budget_ms=1)
    # The engine keeps working; an ample budget changes nothing.
    assert digest(e.process(astronaut, consent=CONSENT, time_budget_ms=600_000)) == digest(e.process(astronaut, consent=CONSENT))
    with pytest.raises(lichtbild.InvalidOptionsError):
        e.process(astronaut, consent=CONSENT, time_budget_ms=0)


def test_limits_are_engine_settings(astronaut: bytes) -> None:
    e = lichtbild.Engine(workers=1, max_output_pixels=300_000)
    # bewerbung-45x60 is 531 x 709 = 376,479 pixels.
    with pytest.raises(lichtbild.TooLargeError, match="output"):
        e.process(astronaut, consent=CONSENT)
    assert e.process(astronaut, consent=CONSENT, preset="bewerbung-35x45").image
    assert e.config["max_output_pixels"] == 300_000
    with pytest.raises(lichtbild.InvalidOptionsError):
        lichtbild.Engine(max_queue=0)
