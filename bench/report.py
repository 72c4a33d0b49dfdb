"""Results → JSON, Markdown (tables + target verdicts) and a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path

SUBJECT, BASELINE, PEER = "planerix", "radicale", "xandikos"
TARGET_N = 100_000

# (key in workloads, label) for latency workloads, in table/plot order
LATENCY_WORKLOADS = [
    ("week_query", "Week calendar-query (~100 hrefs)"),
    ("week_query_answer_only", "  same, on answer-only calendar"),
    ("sync_one_change", "sync-collection, one change"),
    ("sync_one_change_answer_only", "  same, on answer-only calendar"),
    ("initial_sync", "Initial sync-collection"),
    ("propfind_depth1", "Depth-1 PROPFIND getetag"),
    ("multiget_50", "calendar-multiget of 50"),
    ("home_propfind", "Home PROPFIND (Apple, 50 calendars)"),
]


# --- value access ---------------------------------------------------------------
def _size(results: dict, server: str, n: int) -> dict | None:
    srv = results["servers"].get(server) or {}
    return (srv.get("sizes") or {}).get(str(n))


def _wl(results, server, n, key, field="median_s"):
    s = _size(results, server, n)
    try:
        return s["workloads"][key][field]
    except (TypeError, KeyError):
        return None


def _conc(results, server, n, *path):
    s = _size(results, server, n)
    try:
        v = s["concurrent"]
        for p in path:
            v = v[p]
        return v
    except (TypeError, KeyError):
        return None


def _mem(results, server, n):
    s = _size(results, server, n)
    try:
        return s["memory"]["pss_bytes"]
    except (TypeError, KeyError):
        return None


def _div(a, b):
    return a / b if a is not None and b else None


# --- targets ------------------------------------------------------------------------
def compute_targets(results: dict, subject: str = SUBJECT) -> dict:
    """Ratios and pass/miss at N = 100,000 (or the largest size measured)."""
    sizes = sorted(results["meta"]["sizes"])
    n = TARGET_N if TARGET_N in sizes else sizes[-1]
    n_small = 1000 if 1000 in sizes else sizes[0]
    rows = []

    def add(name, value, threshold, op, detail):
        if value is None:
            verdict = "n/a"
        else:
            verdict = "pass" if (value >= threshold if op == ">=" else value <= threshold if op == "<=" else
                                 value < threshold if op == "<" else value == threshold) else "miss"
        rows.append({"target": name, "value": value, "op": op, "threshold": threshold,
                     "result": verdict, "detail": detail})

    def speedup(key, subj=subject):
        return _div(_wl(results, BASELINE, n, key), _wl(results, subj, n, key))

    add("Week query ≥50× faster than stock Radicale", speedup("week_query"), 50, ">=",
        "Radicale median / subject median")
    add("Week query within 1.3× of the answer-only calendar",
        _div(_wl(results, subject, n, "week_query"), _wl(results, subject, n, "week_query_answer_only")),
        1.3, "<=", "subject median at N / subject median on the ~100-item calendar")
    add("One-change sync ≥50× faster than stock Radicale", speedup("sync_one_change"), 50, ">=",
        "Radicale median / subject median")
    add("One-change sync within 1.3× of the answer-only calendar",
        _div(_wl(results, subject, n, "sync_one_change"), _wl(results, subject, n, "sync_one_change_answer_only")),
        1.3, "<=", "subject median at N / subject median on the ~100-item calendar")
    add("Depth-1 PROPFIND ≥10× faster", speedup("propfind_depth1"), 10, ">=", "Radicale median / subject median")
    add("Initial sync ≥10× faster", speedup("initial_sync"), 10, ">=", "Radicale median / subject median")
    add("PUT rate ≥10× stock Radicale's",
        _div(_wl(results, subject, n, "put_rate", "median_rate_per_s"),
             _wl(results, BASELINE, n, "put_rate", "median_rate_per_s")), 10, ">=",
        "subject PUT/s / Radicale PUT/s")
    add(f"PUT rate at N={n:,} ≥0.8× the rate at N={n_small:,}",
        None if n == n_small else _div(_wl(results, subject, n, "put_rate", "median_rate_per_s"),
                                       _wl(results, subject, n_small, "put_rate", "median_rate_per_s")),
        0.8, ">=", "subject PUT/s at large N / at small N (n/a with one size)")
    subject_rps, baseline_rps = _conc(results, subject, n, "throughput_rps"), _conc(results, BASELINE, n, "throughput_rps")
    baseline_elapsed = _conc(results, BASELINE, n, "elapsed_s")
    if subject_rps is not None and baseline_rps == 0 and baseline_elapsed:
        # Radicale finished no request before the harness gave up: its throughput was below
        # one request per elapsed time, so the ratio is at least this (a lower bound).
        add("Concurrent cycle ≥5× stock Radicale's throughput", subject_rps * baseline_elapsed, 5, ">=",
            f"lower bound: Radicale finished no request in {baseline_elapsed:,.0f} s, so subject req/s "
            f"/ (1 request / {baseline_elapsed:,.0f} s)")
    else:
        add("Concurrent cycle ≥5× stock Radicale's throughput", _div(subject_rps, baseline_rps), 5, ">=",
            "subject req/s / Radicale req/s (16 clients)")
    add("Concurrent: zero 5xx", _conc(results, subject, n, "errors_5xx"), 0, "==", "count of 5xx responses")
    add("Concurrent: zero lost writes", _conc(results, subject, n, "audit", "lost_writes"), 0, "==",
        "acknowledged writes missing from the final state")
    rejected_other = _conc(results, subject, n, "audit", "writes_rejected_other")
    unanswered = _conc(results, subject, n, "audit", "writes_unanswered")
    add("Concurrent: every rejected write got 412",
        None if rejected_other is None else rejected_other + (unanswered or 0), 0, "==",
        "rejected writes with a status other than 412, plus unanswered writes")
    add("Memory under one third of stock Radicale's", _div(_mem(results, subject, n), _mem(results, BASELINE, n)),
        1 / 3, "<", "subject PSS / Radicale PSS after the run (PSS summed over the process tree)")
    return {"subject": subject, "n": n, "n_small": n_small, "rows": rows}


# --- formatting -------------------------------------------------------------------
def _ms(v):
    return "–" if v is None else f"{v * 1000:,.1f} ms" if v < 10 else f"{v:,.1f} s"


def _num(v, fmt="{:,.2f}"):
    return "–" if v is None else fmt.format(v)


def _servers(results):
    return [s for s in (SUBJECT, BASELINE, PEER) if s in results["servers"]]


def markdown(results: dict) -> str:
    meta = results["meta"]
    out = [f"# Planerix benchmark{' (smoke mode)' if meta.get('smoke') else ''}", ""]
    out.append(f"Run {meta.get('started')} → {meta.get('finished')}, sizes {', '.join(f'{n:,}' for n in meta['sizes'])}, "
               f"machine: {meta.get('machine')}.")
    out.append("")
    out.append("## Servers")
    out.append("")
    for name in _servers(results):
        srv = results["servers"][name]
        line = f"- **{name}**: {srv.get('status')}"
        if srv.get("reason"):
            line += f" — {srv['reason']}"
        out.append(line)
        if srv.get("auth"):
            out.append(f"  - auth: {srv['auth']}")
        for note in srv.get("notes", []):
            out.append(f"  - {note}")
    out.append("")

    for tgt in (compute_targets(results, SUBJECT), compute_targets(results, PEER)):
        if tgt["subject"] == PEER and PEER not in results["servers"]:
            continue
        title = "Targets" if tgt["subject"] == SUBJECT else "Same ratios for Xandikos (for context, no target)"
        out += [f"## {title} at N = {tgt['n']:,}", ""]
        if not _size(results, tgt["subject"], tgt["n"]):
            out += [f"_{tgt['subject']} has no results at this size, so its targets are n/a._", ""]
        if tgt["n"] != TARGET_N:
            out += [f"_The targets are defined at N = {TARGET_N:,}; this run's largest size is {tgt['n']:,}._", ""]
        out += ["| Target | Value | Needs | Result | How |", "|---|---:|---:|---|---|"]
        for r in tgt["rows"]:
            value = "–" if r["value"] is None else (f"{r['value']:,.2f}" if isinstance(r["value"], float) else str(r["value"]))
            if r["detail"].startswith("lower bound") and r["value"] is not None:
                value = "≥ " + value
            thr = f"{r['threshold']:.2f}" if isinstance(r["threshold"], float) else str(r["threshold"])
            out.append(f"| {r['target']} | {value} | {r['op']} {thr} | **{r['result']}** | {r['detail']} |")
        out.append("")

    servers = [s for s in _servers(results) if results["servers"][s].get("sizes")]
    for n in meta["sizes"]:
        out += [f"## N = {n:,}", "", "| Workload (median) | " + " | ".join(servers) + " |",
                "|---|" + "---:|" * len(servers)]
        for key, label in LATENCY_WORKLOADS:
            cells = []
            for s in servers:
                v = _wl(results, s, n, key)
                runs = _wl(results, s, n, key, "runs")
                cells.append(_ms(v) + (f" ({runs}×)" if runs else ""))
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("| PUT rate, new items (If-None-Match: *) | " + " | ".join(
            _num(_wl(results, s, n, "put_rate", "median_rate_per_s"), "{:,.1f}/s") for s in servers) + " |")
        out.append("| Concurrent 16 clients: throughput | " + " | ".join(
            _num(_conc(results, s, n, "throughput_rps"), "{:,.1f} req/s") for s in servers) + " |")
        out.append("| Concurrent: p50 / p95 | " + " | ".join(
            f"{_ms(_conc(results, s, n, 'p50_s'))} / {_ms(_conc(results, s, n, 'p95_s'))}" for s in servers) + " |")
        out.append("| Concurrent: requests / 5xx / other errors | " + " | ".join(
            f"{_conc(results, s, n, 'requests')} / {_conc(results, s, n, 'errors_5xx')} / "
            f"{(_conc(results, s, n, 'errors_other_status') or 0) + (_conc(results, s, n, 'errors_exceptions') or 0)}"
            for s in servers) + " |")
        out.append("| Concurrent: writes acked / 412 / lost | " + " | ".join(
            f"{_conc(results, s, n, 'audit', 'writes_acknowledged')} / {_conc(results, s, n, 'audit', 'writes_rejected_412')}"
            f" / {_conc(results, s, n, 'audit', 'lost_writes')}" for s in servers) + " |")
        out.append("| Memory after run: PSS (RSS); server process alone | " + " | ".join(
            _memcell(_size(results, s, n)) for s in servers) + " |")
        out.append("| Week query hrefs / one-change sync entries | " + " | ".join(
            f"{_wl(results, s, n, 'week_query', 'hrefs')} / {_wl(results, s, n, 'sync_one_change', 'changes')}"
            for s in servers) + " |")
        out.append("| Fill method (seconds) | " + " | ".join(_fillcell(_size(results, s, n)) for s in servers) + " |")
        out.append("")
    out += ["## Method", "", *[f"- {line}" for line in meta.get("method", [])], ""]
    return "\n".join(out)


def _memcell(size: dict | None) -> str:
    if not size or "memory" not in size:
        return "–"
    m = size["memory"]
    cell = f"{m['pss_bytes'] / 2**20:,.0f} MiB ({m['rss_bytes'] / 2**20:,.0f} MiB)"
    if m.get("app_pss_bytes") and m["app_pss_bytes"] != m["pss_bytes"]:
        cell += f"; {m['app_pss_bytes'] / 2**20:,.0f} MiB"
    return cell


def _fillcell(size: dict | None) -> str:
    if not size or "fill" not in size:
        return "–"
    f = size["fill"]
    method = "HTTP PUT" if f["method"] == "http" else "direct storage write"
    warm = f" + warm {f['warm_s']:.1f}s" if f.get("warm_s") is not None else ""
    return f"{method} ({f['items']:,} items, {f['seconds']:.1f}s{warm})"


# --- plot -------------------------------------------------------------------------------
def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("week_query", "Week calendar-query"), ("sync_one_change", "sync-collection, 1 change"),
              ("initial_sync", "Initial sync"), ("propfind_depth1", "Depth-1 PROPFIND getetag"),
              ("multiget_50", "Multiget of 50"), ("home_propfind", "Home PROPFIND (Apple)"),
              ("put_latency", "PUT new item (median latency)"), ("conc_p50", "16 clients: p50 latency"),
              ("conc_p95", "16 clients: p95 latency")]
    colors = {SUBJECT: "tab:green", BASELINE: "tab:red", PEER: "tab:blue"}
    sizes = sorted(results["meta"]["sizes"])
    fig, axes = plt.subplots(2, 5, figsize=(22, 9))
    handles, labels = [], []
    for ax, (key, title) in zip(axes.flat, panels):
        for s in _servers(results):
            ys = [_series(results, s, n, key) for n in sizes]
            pts = [(n, y) for n, y in zip(sizes, ys) if y]
            if pts:
                ax.plot(*zip(*pts), marker="o", color=colors[s], label=s)
            if key in ("week_query", "sync_one_change"):
                pts = [(n, _wl(results, s, n, key + "_answer_only")) for n in sizes]
                pts = [(n, y * 1000) for n, y in pts if y]
                if pts:
                    ax.plot(*zip(*pts), ls="--", marker="x", color=colors[s], alpha=0.6,
                            label=f"{s}, answer-only calendar")
        ax.set_title(title)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("calendar size N (items)")
        ax.set_ylabel("ms")
        ax.grid(True, which="both", alpha=0.3)
        if key == "week_query":
            handles, labels = ax.get_legend_handles_labels()
    ax = axes.flat[-1]
    for s in _servers(results):
        pts = [(n, _conc(results, s, n, "throughput_rps")) for n in sizes]
        pts = [(n, y) for n, y in pts if y]
        if pts:
            ax.plot(*zip(*pts), marker="o", color=colors[s], label=s)
    ax.set_title("16 clients: throughput")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("calendar size N (items)")
    ax.set_ylabel("requests/s")
    ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("CalDAV latency against calendar size (median; lower is better except throughput)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _series(results, server, n, key):
    if key == "put_latency":
        v = _wl(results, server, n, "put_rate", "median_latency_s")
    elif key == "conc_p50":
        v = _conc(results, server, n, "p50_s")
    elif key == "conc_p95":
        v = _conc(results, server, n, "p95_s")
    else:
        v = _wl(results, server, n, key)
    return v * 1000 if v else None


def write_all(results: dict, out_dir: Path, plot_png: bool = True) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    results["targets"] = compute_targets(results)
    paths = {"json": out_dir / "results.json", "markdown": out_dir / "results.md", "png": out_dir / "latency.png"}
    paths["json"].write_text(json.dumps(results, indent=2, default=str))
    paths["markdown"].write_text(markdown(results))
    if plot_png:
        plot(results, paths["png"])
    return paths


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.report DIR``: render DIR/results.md and latency.png again from
    DIR/results.json (after a change to the report, without measuring again)."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=main.__doc__)
    parser.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    results = json.loads((args.dir / "results.json").read_text())
    results["meta"]["sizes"] = [int(n) for n in results["meta"]["sizes"]]
    for path in write_all(results, args.dir).values():
        print(path)


if __name__ == "__main__":
    main()
