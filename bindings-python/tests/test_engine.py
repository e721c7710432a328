"""Threads, pickling, memory, documentation: the engine as a Python object."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import inspect
import multiprocessing
import pickle
import threading
import time

import numpy as np
from conftest import CONSENT, FIXTURES, SMALL, rss_bytes
from PIL import Image

import lichtbild


def test_16_threads_share_one_engine(engine: lichtbild.Engine, small_hopper: bytes) -> None:
    """16 threads on one engine: identical results, in less wall time than the 16 calls would
    need if the GIL were held.

    Held GIL = no two calls overlap, so the wall time would be at least the sum of the time the
    workers spent on each call (the receipt's step timings, which cover the whole pipeline).
    Comparing with that sum instead of a separately timed sequential run keeps the test honest
    on a busy machine: other processes slow the steps and the wall clock alike, while a second
    sequential run could meet a different load. The engine has 2 workers: expect ~0.5.
    """
    assert engine.workers == 2

    def one(_: int = 0) -> tuple[str, float]:
        res = engine.process(small_hopper, consent=CONSENT, preset="bewerbung-35x45")
        assert res.image is not None
        return hashlib.sha256(res.image).hexdigest(), sum(s["ms"] for s in res.receipt["steps"]) / 1e3

    one()  # warm-up
    t0 = time.perf_counter()
    sequential = [one() for _ in range(16)]
    t_seq = time.perf_counter() - t0
    with cf.ThreadPoolExecutor(16) as pool:
        t0 = time.perf_counter()
        parallel = list(pool.map(one, range(16)))
        t_par = time.perf_counter() - t0
    assert {h for h, _ in sequential} == {h for h, _ in parallel} and len({h for h, _ in parallel}) == 1
    held = sum(t for _, t in parallel)
    assert t_par < 0.8 * held, f"16 threads: {t_par:.2f}s wall for {held:.2f}s of work (sequential run: {t_seq:.2f}s)"


def test_gil_is_released_while_processing(engine: lichtbild.Engine, hopper: bytes) -> None:
    """A pure-Python thread keeps running while another thread waits for a headshot."""
    done = threading.Event()
    ticks = 0

    def spin() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        for _ in range(3):
            before = ticks
            engine.process(hopper, consent=CONSENT)
            assert ticks - before > 1000, "the Python thread made no progress: the GIL was held"
    finally:
        done.set()
        t.join()


def test_pickles_as_its_configuration(small_hopper: bytes) -> None:
    e = lichtbild.Engine(workers=1, intra_threads=1, pixel_threads=2, max_pixels=50_000_000)
    clone = pickle.loads(pickle.dumps(e))
    assert isinstance(clone, lichtbild.Engine) and clone is not e
    assert clone.config == e.config and clone.config["max_pixels"] == 50_000_000
    assert clone.config["pixel_threads"] == 2
    a = e.process(small_hopper, consent=CONSENT, custom_preset=SMALL).image
    b = clone.process(small_hopper, consent=CONSENT, custom_preset=SMALL).image
    assert a == b
    # Pixel loops split over two threads give the very bytes one thread gives.
    one = lichtbild.Engine(workers=1, pixel_threads=1).process(small_hopper, consent=CONSENT, custom_preset=SMALL)
    assert one.image == a
    c = pickle.loads(pickle.dumps(CONSENT))
    assert c == CONSENT


def test_rebuilds_in_a_spawned_process(engine: lichtbild.Engine, astronaut: bytes) -> None:
    rgb = np.asarray(Image.open(FIXTURES / "astronaut.png").convert("RGB"))
    here = engine.process_array(rgb, consent=CONSENT, custom_preset=SMALL)
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        # The bound method pickles the engine (as its configuration) and the consent.
        there = pool.submit(engine.process_array, rgb, consent=CONSENT, custom_preset=SMALL).result(timeout=300)
        # Results pickle too, so process() itself can run in the pool.
        res = pool.submit(engine.process, astronaut, consent=CONSENT, custom_preset=SMALL, return_landmarks=True).result(timeout=300)
    assert np.array_equal(here, there)
    local = engine.process(astronaut, consent=CONSENT, custom_preset=SMALL, return_landmarks=True)
    assert isinstance(res, lichtbild.Result) and res.image == local.image and res.landmarks == local.landmarks
    assert [(f.code, f.message) for f in res.findings] == [(f.code, f.message) for f in local.findings]
    assert (res.width, res.height, res.dpi, res.format) == (120, 160, 100, "jpeg")


def test_rss_stays_flat_over_1000_calls(engine: lichtbild.Engine, small_hopper: bytes) -> None:
    """1,000 calls do not grow the resident memory after warm-up (more than 5 %).

    One call after another: with several calls in flight, RSS also holds the malloc arenas of
    every thread at the peak of the overlap, which settles only after ~1,000 calls (measured:
    +17 % then flat) and would hide or fake a leak. Concurrency has its own test above.
    """

    def one() -> int:
        res = engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL, return_landmarks=True)
        assert res.image is not None and res.landmarks is not None
        return len(res.image)

    for _ in range(50):  # warm-up: arenas, caches
        one()
    before = rss_bytes()
    sizes = {one() for _ in range(1000)}
    after = rss_bytes()
    assert len(sizes) == 1
    change = (after - before) / before
    # One-sided: a leak grows RSS; memory the allocator returns after the earlier tests in this
    # process (measured: -5.2 %) is no leak. `make soak` runs the long, two-sided check.
    assert change <= 0.05, f"RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB ({change:+.1%})"


def test_every_public_name_is_documented() -> None:
    for name in lichtbild.__all__:
        obj = getattr(lichtbild, name)
        if name == "__version__":
            continue
        assert (obj.__doc__ or "").strip(), name
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr, member in vars(obj).items():
                if not attr.startswith("_"):
                    assert (member.__doc__ or "").strip(), f"{name}.{attr}"
    doc = lichtbild.Engine.process.__doc__ or ""
    assert "consent" in doc and "GIL" in doc
    sig = inspect.signature(lichtbild.Engine.process)
    assert sig.parameters["consent"].kind is inspect.Parameter.KEYWORD_ONLY
    assert sig.parameters["consent"].default is inspect.Parameter.empty
    assert sig.parameters["preset"].default == "bewerbung-45x60"
