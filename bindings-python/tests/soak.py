"""Soak through the Python binding (make soak; not part of the pytest suite): 2,000 headshots on
one engine (2 workers) from 4 threads at once, RSS sampled every 100 runs. Flat means: after a
warm-up of 200 runs, the median of the last 5 samples is at most 5 % above the median of the
first 5 (see core/examples/soak.rs for why medians). Every output must equal the first.

    python soak.py FIXTURES_DIR [RUNS]
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import statistics
import sys
import threading
import time

import lichtbild

EVERY, WARM_UP, TOLERANCE, IN_FLIGHT, WINDOW = 100, 200, 0.05, 4, 5


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    fixtures = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    with open(os.path.join(fixtures, "astronaut.png"), "rb") as f:
        photo = f.read()
    engine = lichtbild.Engine(workers=2)
    consent = lichtbild.Consent(face_geometry=True)
    lock = threading.Lock()
    state: dict[str, object] = {"done": 0, "first": None}
    samples: list[tuple[int, float]] = []
    t0 = time.monotonic()

    def one(_: int) -> None:
        # The smallest application photo (413x531): the soak is about memory, not pixels.
        image = engine.process(photo, consent=consent, preset="bewerbung-35x45").image
        with lock:
            if state["first"] is None:
                state["first"] = image
            assert image == state["first"], "an output differs from the first"
            n = int(state["done"]) + 1  # type: ignore[call-overload]
            state["done"] = n
            if n % EVERY == 0:
                rss = rss_mib()
                samples.append((n, rss))
                print(f"python soak: run {n:5}  rss {rss:7.1f} MiB  ({time.monotonic() - t0:.0f} s)", flush=True)

    with cf.ThreadPoolExecutor(IN_FLIGHT) as pool:
        for fut in [pool.submit(one, i) for i in range(runs)]:
            fut.result()

    samples.sort()
    print(f"python soak: RSS series (MiB, every {EVERY} runs): {' '.join(f'{v:.1f}' for _, v in samples)}")
    after = [v for n, v in samples if n > WARM_UP]
    assert len(after) >= 2 * WINDOW, f"too few samples: run at least {WARM_UP + 2 * WINDOW * EVERY} runs"
    start, end = statistics.median(after[:WINDOW]), statistics.median(after[-WINDOW:])
    drift = end / start - 1
    print(
        f"python soak: {runs} runs in {time.monotonic() - t0:.0f} s; after the {WARM_UP}-run warm-up: median of the first "
        f"{WINDOW} samples {start:.1f} MiB, of the last {WINDOW} {end:.1f} MiB ({drift * 100:+.1f} %, limit +{TOLERANCE * 100:.0f} %); "
        f"range {min(after):.1f}..{max(after):.1f} MiB"
    )
    if drift > TOLERANCE:
        print("python soak: FAILED: RSS grew after the warm-up", file=sys.stderr)
        return 1
    print("python soak: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
