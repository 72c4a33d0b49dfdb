"""Single-client workloads.  Each takes a ``Dav`` client (base URL + auth)
and a collection path and returns a plain dict with the median of repeated
timed runs plus a correctness hint (how many hrefs came back).

Repetitions are bounded by ``Budget``: at most ``reps`` runs, and no new run
starts once ``seconds`` have been spent (at least ``min_reps`` always run).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

from . import dataset
from .dataset import Item
from .dav import (PROPFIND_APPLE_HOME, PROPFIND_GETETAG, Dav, calendar_multiget, calendar_query,
                  calendar_query_uid, sync_collection)


@dataclass
class Budget:
    reps: int = 7
    seconds: float = 60.0
    min_reps: int = 1


class WorkloadError(RuntimeError):
    pass


def _repeat(run: Callable[[], float], budget: Budget) -> list[float]:
    samples: list[float] = []
    t0 = time.monotonic()
    while len(samples) < budget.reps:
        if len(samples) >= budget.min_reps and time.monotonic() - t0 > budget.seconds:
            break
        samples.append(run())
    return samples


def _result(samples: list[float], **extra) -> dict:
    return {"median_s": statistics.median(samples), "runs": len(samples),
            "samples_s": [round(s, 6) for s in samples], **extra}


def rounds(runs: dict[str, tuple], budget: Budget, **extra) -> dict[str, dict]:
    """Each run once per round, up to ``budget.reps`` rounds (or its seconds per run): what
    the machine's load does to one run it does to the others of its round, so ratios of runs
    measured together hold better than ratios of runs measured one after the other. A run is
    ``(run, cpu_seconds)`` or ``(run, cpu_seconds, prepare)``: ``run()`` gives the seconds it
    timed, ``cpu_seconds()`` reads the CPU time of the processes answering it (the CPU per
    request, ``cpu_s``, depends much less on the load from elsewhere than the wall-clock time),
    and ``prepare()``, untimed and outside the CPU counted, runs before each."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    cpu = dict.fromkeys(runs, 0.0)
    started = time.monotonic()
    while len(samples[next(iter(runs))]) < budget.reps and (
            len(samples[next(iter(runs))]) < budget.min_reps
            or time.monotonic() - started < budget.seconds * len(runs)):
        for name, (run, cpu_seconds, *prepare) in runs.items():
            for step in prepare:
                step()
            before = cpu_seconds()
            samples[name].append(run())
            cpu[name] += cpu_seconds() - before
    return {name: _result(taken, cpu_s=cpu[name] / len(taken), **extra) for name, taken in samples.items()}


def _check(reply, what: str, ok=(207,)):
    if reply.status not in ok:
        raise WorkloadError(f"{what}: HTTP {reply.status}: {reply.body[:300]!r}")
    return reply


def week_query(dav: Dav, cal: str, budget: Budget) -> dict:
    """One-week time-range calendar-query with getetag (expects ~100 hrefs)."""
    body = calendar_query(*dataset.week_range())
    counts = []

    def run() -> float:
        r = _check(dav.report(cal, body, depth="1"), "calendar-query")
        counts.append(len(r.multistatus().ok_hrefs()))
        return r.seconds

    return _result(_repeat(run, budget), hrefs=counts[-1] if counts else None)


def initial_sync(dav: Dav, cal: str, budget: Budget) -> tuple[dict, str | None]:
    """sync-collection with an empty token (a client's first sync)."""
    counts, tokens = [], []

    def run() -> float:
        r = _check(dav.report(cal, sync_collection(None), depth="0"), "sync-collection (initial)")
        ms = r.multistatus()
        counts.append(len(ms.ok_hrefs()))
        tokens.append(ms.sync_token)
        return r.seconds

    res = _result(_repeat(run, budget), hrefs=counts[-1] if counts else None)
    return res, tokens[-1] if tokens else None


def sync_one_change(dav: Dav, cal: str, token: str | None, item: Item, budget: Budget) -> tuple[dict, str | None]:
    """Change one item (untimed PUT), then time sync-collection since the token.

    Returns the result and the newest sync token.
    """
    if not token:
        _, token = initial_sync(dav, cal, Budget(reps=1))
    changes = []
    state = {"token": token, "n": 0}

    def run() -> float:
        state["n"] += 1
        put = dav.put(cal + item.name, dataset.rewrite(item, f"sync-{state['n']}-{time.time_ns()}"))
        _check(put, "PUT (change before sync)", ok=(200, 201, 204))
        r = _check(dav.report(cal, sync_collection(state["token"]), depth="0"), "sync-collection (delta)")
        ms = r.multistatus()
        changes.append(len(ms.entries))
        state["token"] = ms.sync_token or state["token"]
        return r.seconds

    res = _result(_repeat(run, budget), changes=changes[-1] if changes else None)
    return res, state["token"]


def propfind_depth1(dav: Dav, cal: str, budget: Budget) -> dict:
    """Depth-1 PROPFIND of getetag on the calendar (lists every item)."""
    counts = []

    def run() -> float:
        r = _check(dav.propfind(cal, PROPFIND_GETETAG, "1"), "PROPFIND depth 1")
        counts.append(len(r.multistatus().entries))
        return r.seconds

    return _result(_repeat(run, budget), responses=counts[-1] if counts else None)


def multiget(dav: Dav, cal: str, names: list[str], budget: Budget) -> dict:
    """calendar-multiget of the given item names (50 in the benchmark)."""
    body = calendar_multiget([cal + n for n in names])
    counts = []

    def run() -> float:
        r = _check(dav.report(cal, body, depth="1"), "calendar-multiget")
        counts.append(sum(1 for e in r.multistatus().entries if e.data))
        return r.seconds

    return _result(_repeat(run, budget), items=counts[-1] if counts else None)


def home_propfind(dav: Dav, home: str, budget: Budget) -> dict:
    """Apple Calendar's Depth-1 PROPFIND of ~40 properties on the calendar home."""
    counts = []

    def run() -> float:
        r = _check(dav.propfind(home, PROPFIND_APPLE_HOME, "1"), "home PROPFIND")
        counts.append(len(r.multistatus().entries))
        return r.seconds

    return _result(_repeat(run, budget), responses=counts[-1] if counts else None)


def put_rate(dav: Dav, cal: str, new_items: Callable[[int], list[Item]], batch: int,
             budget: Budget, run_seconds: float = 20.0) -> dict:
    """Sequential PUTs of new items (If-None-Match: *): items/s per run, median.

    Each run PUTs up to ``batch`` items and stops early after ``run_seconds``
    (at least one PUT), so slow servers still finish in bounded time.
    ``new_items(k)`` returns k never-used items.
    """
    rates, latencies, total = [], [], 0
    errors = []

    def run() -> float:
        nonlocal total
        items = new_items(batch)
        done, spent = 0, 0.0
        for it in items:
            r = dav.put(cal + it.name, it.ics, create=True)
            if r.status not in (200, 201, 204):
                errors.append(r.status)
            spent += r.seconds
            latencies.append(r.seconds)
            done += 1
            if spent > run_seconds:
                break
        total += done
        rates.append(done / spent)
        return spent

    _repeat(run, budget)
    return {"median_rate_per_s": statistics.median(rates), "runs": len(rates),
            "rates_per_s": [round(r, 2) for r in rates], "items": total,
            "median_latency_s": statistics.median(latencies), "errors": len(errors),
            "error_statuses": sorted(set(errors))}


def uid_lookup(dav: Dav, cal: str, uid: str, budget: Budget) -> dict:
    """calendar-query for one UID as python-caldav's ``event_by_uid`` sends it (expects 1 href)."""
    body = calendar_query_uid(uid)
    counts = []

    def run() -> float:
        r = _check(dav.report(cal, body, depth="1"), "calendar-query (UID)")
        counts.append(sum(1 for e in r.multistatus().entries if e.data))
        return r.seconds

    return _result(_repeat(run, budget), items=counts[-1] if counts else None)


def week_query_with_data(dav: Dav, cal: str, budget: Budget) -> tuple[dict, bytes]:
    """One-week time-range calendar-query with getetag and calendar-data; returns the last body too."""
    body = calendar_query(*dataset.week_range(), with_data=True)
    replies = []

    def run() -> float:
        r = _check(dav.report(cal, body, depth="1"), "calendar-query (week, data)")
        replies.append(r)
        return r.seconds

    samples = _repeat(run, budget)
    last = replies[-1]
    return _result(samples, items=sum(1 for e in last.multistatus().entries if e.data),
                   bytes=len(last.body)), last.body
