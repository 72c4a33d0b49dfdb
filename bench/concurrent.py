"""The concurrent phase: 16 DAVx5-like clients syncing one calendar.

Each client loops over a sync cycle for a fixed time:

1. ``PROPFIND`` Depth 0 of ``getctag`` + ``sync-token`` on the calendar;
2. if the token moved: ``sync-collection`` since its own token;
3. ``calendar-multiget`` of up to 50 changed hrefs;
4. a write whenever its writes are below 10% of its requests: half are
   creations (``If-None-Match: *``), half updates of one of a few shared
   "hot" items with ``If-Match`` set to the etag the client last saw, so
   concurrent updates race and the losers must get 412.

``mix="ops"`` runs instead the mix of issue #17's side-by-side measurement with
SabreDAV and DAViCal: each step picks one operation at random, 30 % the one-week
``calendar-query`` (getetag), 30 % a ``calendar-multiget`` of 50 random items of the
calendar, 30 % a ``sync-collection`` delta since the client's last token, 10 % a ``GET``
of a hot item then a ``PUT`` with ``If-Match`` on the etag it returned (racing: the
losers get 412). Fixed-size operations, so each kind's latency compares across servers
whatever their throughput (in the DAVx5 cycle a faster server's multigets carry more changes).

No request starts after the deadline; requests in flight are allowed to
finish (throughput divides by the real elapsed time).  Afterwards the final
state is audited: every acknowledged creation must exist with its marker,
every hot item must hold the last acknowledged update, every rejected write
must have been a 412.
"""

from __future__ import annotations

import asyncio
import random
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from . import dataset
from .dataset import Item
from .dav import (ICS, PROPFIND_CTAG_SYNCTOKEN, XML, Dav, calendar_multiget, calendar_query, parse_multistatus,
                  sync_collection)

_MARK = re.compile(r"X-BENCH-WRITE:([^\r\n]+)")
_SYNC_TOKEN = "{DAV:}sync-token"


def _norm_etag(etag: str | None) -> str | None:
    if etag is None:
        return None
    etag = etag.strip()
    return etag[2:] if etag.startswith("W/") else etag


@dataclass
class Write:
    kind: str  # create | update
    href: str
    marker: str
    status: int = 0
    if_match: str | None = None
    new_etag: str | None = None
    t_end: float = 0.0


@dataclass
class Shared:
    base: str
    cal: str
    deadline: float
    tag: str
    hot: list[Item]
    token: str | None
    hot_etags: dict[str, str]
    write_fraction: float = 0.10
    names: list[str] = field(default_factory=list)  # the calendar's item names (mix "ops": multiget)
    latencies: list[tuple[str, float]] = field(default_factory=list)
    statuses: list[tuple[str, int]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    cycles: int = 0


async def _req(sess: aiohttp.ClientSession, sh: Shared, kind: str, method: str, path: str,
               body: str, headers: dict) -> tuple[int, bytes, dict]:
    t0 = time.perf_counter()
    async with sess.request(method, sh.base + path, data=body.encode(), headers=headers) as resp:
        content = await resp.read()
        # Case-insensitive: a proxy may send header names in lower case (HAProxy does).
        status, hdrs = resp.status, resp.headers.copy()
    sh.latencies.append((kind, time.perf_counter() - t0))
    sh.statuses.append((kind, status))
    return status, content, hdrs


async def _client(cid: int, sh: Shared, auth: aiohttp.BasicAuth | None, timeout: float) -> None:
    rng = random.Random(f"{dataset.SEED}:client:{cid}")
    token = sh.token
    etags = dict(sh.hot_etags)  # hot href -> etag this client believes is current
    hot_hrefs = {sh.cal + it.name: it for it in sh.hot}
    n_req = n_writes = n_created = 0
    conn = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=conn, auth=auth,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as sess:
        while time.monotonic() < sh.deadline:
            try:
                st, body, _ = await _req(sess, sh, "propfind-ctag", "PROPFIND", sh.cal, PROPFIND_CTAG_SYNCTOKEN,
                                         {"Depth": "0", "Content-Type": XML})
                n_req += 1
                server_token = parse_multistatus(body).props.get(_SYNC_TOKEN) if st == 207 else None
                if st == 207 and (server_token is None or server_token != token) and time.monotonic() < sh.deadline:
                    st, body, _ = await _req(sess, sh, "sync-collection", "REPORT", sh.cal, sync_collection(token),
                                             {"Depth": "0", "Content-Type": XML})
                    n_req += 1
                    if st == 207:
                        ms = parse_multistatus(body)
                        token = ms.sync_token or token
                        changed = [e.href for e in ms.entries if e.status == 200]
                        for e in ms.entries:
                            if e.href in hot_hrefs and e.etag:
                                etags[e.href] = e.etag
                        if changed and time.monotonic() < sh.deadline:
                            st, body, _ = await _req(sess, sh, "multiget", "REPORT", sh.cal,
                                                     calendar_multiget(changed[:50]),
                                                     {"Depth": "1", "Content-Type": XML})
                            n_req += 1
                            if st == 207:
                                for e in parse_multistatus(body).entries:
                                    if e.href in hot_hrefs and e.etag:
                                        etags[e.href] = e.etag
                if n_writes < sh.write_fraction * (n_req + 1) and time.monotonic() < sh.deadline:
                    href = rng.choice(sorted(hot_hrefs))
                    if rng.random() < 0.5 or not etags.get(href):
                        n_created += 1
                        uid = f"cc-{sh.tag}-{cid:02d}-{n_created:05d}"
                        marker = f"{uid}"
                        item = dataset.fresh_item(uid, 5_000_000 + cid * 100_000 + n_created, marker)
                        w = Write("create", sh.cal + item.name, marker)
                        headers = {"Content-Type": ICS, "If-None-Match": "*"}
                        text = item.ics
                    else:
                        marker = f"hot-{sh.tag}-{cid:02d}-{n_writes:05d}"
                        w = Write("update", href, marker, if_match=etags[href])
                        headers = {"Content-Type": ICS, "If-Match": etags[href]}
                        text = dataset.rewrite(hot_hrefs[href], marker)
                    sh.writes.append(w)
                    w.status, _, hdrs = await _req(sess, sh, "put", "PUT", w.href, text, headers)
                    w.t_end = time.monotonic()
                    w.new_etag = hdrs.get("ETag") or hdrs.get("Etag")
                    n_req += 1
                    n_writes += 1
                    if w.kind == "update" and 200 <= w.status < 300 and w.new_etag:
                        etags[href] = w.new_etag
                sh.cycles += 1
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                sh.exceptions.append(f"{type(exc).__name__}: {exc}")
                n_req += 1


OPS_MIX = (("week-query", 0.30), ("multiget", 0.30), ("sync-collection", 0.30), ("get+put", 0.10))


async def _ops_client(cid: int, sh: Shared, auth: aiohttp.BasicAuth | None, timeout: float) -> None:
    """One client of ``mix="ops"`` (see the module's docstring)."""
    rng = random.Random(f"{dataset.SEED}:ops-client:{cid}")
    token = sh.token
    hot_hrefs = {sh.cal + it.name: it for it in sh.hot}
    week = calendar_query(*dataset.week_range())
    kinds, weights = zip(*OPS_MIX)
    n_writes = 0
    conn = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=conn, auth=auth,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as sess:
        while time.monotonic() < sh.deadline:
            op = rng.choices(kinds, weights)[0]
            try:
                if op == "week-query":
                    await _req(sess, sh, op, "REPORT", sh.cal, week, {"Depth": "1", "Content-Type": XML})
                elif op == "multiget":
                    hrefs = [sh.cal + name for name in rng.sample(sh.names, min(50, len(sh.names)))]
                    await _req(sess, sh, op, "REPORT", sh.cal, calendar_multiget(hrefs),
                               {"Depth": "1", "Content-Type": XML})
                elif op == "sync-collection":
                    st, body, _ = await _req(sess, sh, op, "REPORT", sh.cal, sync_collection(token),
                                             {"Depth": "0", "Content-Type": XML})
                    if st == 207:
                        token = parse_multistatus(body).sync_token or token
                else:
                    href = rng.choice(sorted(hot_hrefs))
                    st, _, hdrs = await _req(sess, sh, "get", "GET", href, "", {})
                    etag = hdrs.get("ETag")
                    if st != 200 or not etag or time.monotonic() >= sh.deadline:
                        continue
                    n_writes += 1
                    marker = f"hot-{sh.tag}-{cid:02d}-{n_writes:05d}"
                    w = Write("update", href, marker, if_match=etag)
                    sh.writes.append(w)
                    w.status, _, hdrs = await _req(sess, sh, "put", "PUT", href, dataset.rewrite(hot_hrefs[href], marker),
                                                   {"Content-Type": ICS, "If-Match": etag})
                    w.t_end = time.monotonic()
                    w.new_etag = hdrs.get("ETag")
                sh.cycles += 1
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                sh.exceptions.append(f"{type(exc).__name__}: {exc}")


MIXES = {"davx5": _client, "ops": _ops_client}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(q * (len(values) - 1)))))
    return values[k]


def _hot_initial_etags(dav: Dav, cal: str, hot: list[Item]) -> dict[str, str]:
    out = {}
    for it in hot:
        r = dav.get(cal + it.name)
        etag = r.headers.get("ETag") or r.headers.get("Etag")
        if r.status == 200 and etag:
            out[cal + it.name] = etag
    return out


def audit(dav: Dav, sh: Shared, initial_etags: dict[str, str]) -> dict:
    """Check the final state against what the server acknowledged."""
    ok = lambda s: 200 <= s < 300  # noqa: E731
    creates = [w for w in sh.writes if w.kind == "create" and w.status]
    updates = [w for w in sh.writes if w.kind == "update" and w.status]
    missing = 0
    for w in creates:
        if ok(w.status):
            r = dav.get(w.href)
            if r.status != 200 or w.marker.encode() not in r.body:
                missing += 1
    wrong_final = chain_breaks = 0
    for it in sh.hot:
        href = sh.cal + it.name
        acked = sorted((w for w in updates if w.href == href and ok(w.status)), key=lambda w: w.t_end)
        r = dav.get(href)
        m = _MARK.search(r.body.decode("utf-8", "replace")) if r.status == 200 else None
        final = m.group(1).strip() if m else None
        if acked and final != acked[-1].marker:
            wrong_final += 1
        prev = _norm_etag(initial_etags.get(href))
        for w in acked:
            if w.new_etag is None or prev is None:
                prev = None
                continue
            if _norm_etag(w.if_match) != prev:
                chain_breaks += 1
            prev = _norm_etag(w.new_etag)
    rejected = [w for w in sh.writes if w.status and not ok(w.status)]
    return {
        "writes_attempted": len(sh.writes),
        "writes_acknowledged": sum(1 for w in sh.writes if ok(w.status)),
        "creates_acknowledged": sum(1 for w in creates if ok(w.status)),
        "updates_acknowledged": sum(1 for w in updates if ok(w.status)),
        "writes_rejected_412": sum(1 for w in rejected if w.status == 412),
        "writes_rejected_other": sum(1 for w in rejected if w.status != 412),
        "writes_unanswered": sum(1 for w in sh.writes if not w.status),
        "lost_creates": missing,
        "hot_items_wrong_final_state": wrong_final,
        "if_match_chain_breaks": chain_breaks,
        "lost_writes": missing + wrong_final,
    }


def run_concurrent(base_url: str, auth: tuple[str, str] | None, cal: str, token: str | None,
                   hot: list[Item], tag: str, clients: int = 16, seconds: float = 30.0,
                   grace: float = 600.0, mix: str = "davx5", names: list[str] | None = None) -> dict:
    """Run the phase and the audit; returns throughput, latencies, errors, audit.

    ``mix``: "davx5" (the sync cycle) or "ops" (issue #17's operation mix, which multigets
    random ones of ``names``, the calendar's item names)."""
    dav = Dav(base_url, auth)
    initial_etags = _hot_initial_etags(dav, cal, hot)
    t0 = time.monotonic()
    sh = Shared(base_url, cal, t0 + seconds, tag, hot, token, initial_etags, names=list(names or []))
    client = MIXES[mix]
    basic = aiohttp.BasicAuth(*auth) if auth else None

    async def main() -> bool:
        tasks = [asyncio.create_task(client(i, sh, basic, grace)) for i in range(clients)]
        done, pending = await asyncio.wait(tasks, timeout=seconds + grace)
        for t in pending:
            t.cancel()
        for t in done:
            if t.exception():
                sh.exceptions.append(repr(t.exception()))
        return not pending

    finished = asyncio.run(main())
    elapsed = time.monotonic() - t0
    lat = [s for _, s in sh.latencies]
    n = len(sh.statuses)
    server_errors = sum(1 for _, s in sh.statuses if s >= 500)
    unexpected = sum(1 for k, s in sh.statuses if s < 500 and not (200 <= s < 300) and not (k == "put" and s == 412))
    by_kind = {}
    for kind in sorted({k for k, _ in sh.latencies}):
        ks = [s for k, s in sh.latencies if k == kind]
        by_kind[kind] = {"count": len(ks), "p50_s": _percentile(ks, 0.5), "p95_s": _percentile(ks, 0.95)}
    result = {
        "mix": mix, "clients": clients, "duration_s": seconds, "elapsed_s": elapsed, "all_finished": finished,
        "requests": n, "cycles": sh.cycles, "throughput_rps": n / elapsed if elapsed else 0.0,
        "p50_s": _percentile(lat, 0.5), "p95_s": _percentile(lat, 0.95), "p99_s": _percentile(lat, 0.99),
        "mean_s": statistics.fmean(lat) if lat else None,
        "errors_5xx": server_errors, "errors_other_status": unexpected,
        "errors_exceptions": len(sh.exceptions), "exception_samples": sh.exceptions[:5],
        "by_kind": by_kind,
        "status_counts": {f"{k} {st}": c for (k, st), c in sorted(Counter(sh.statuses).items())},
    }
    result["audit"] = audit(dav, sh, initial_etags)
    dav.close()
    return result
