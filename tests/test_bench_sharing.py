"""bench.sharing --smoke: the harness runs end to end and reports the three ratios."""
from bench import sharing


def test_sharing_bench_smoke(tmp_path):
    results = sharing.main(["--smoke", "--out", str(tmp_path)])
    assert results["planerix"]["status"] == "ok", results["planerix"]
    assert set(results["ratios"]) == {"home", "week", "proxy"}
    assert results["planerix"]["week_own"]["hrefs"] == results["planerix"]["week_shared"]["hrefs"] > 0
    assert "| Depth-1 PROPFIND of a home" in (tmp_path / "sharing.md").read_text()
