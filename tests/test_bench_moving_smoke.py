"""``python -m bench.moving`` at a small size, so it cannot rot. No timing is asserted: every
phase ran on all N items (the harness itself checks the counts) and the report was written."""
import json

from bench import moving


def test_moving_benchmark_smoke_run(tmp_path, database_server):
    results = moving.main(["--sizes", "50", "--out", str(tmp_path), "--database-url", database_server])
    assert [r["n"] for r in results] == [50]
    phases = {"import", "import_again", "export", "import_export_again", "backup", "restore",
              "radicale_first_listing"}
    assert phases <= set(results[0])
    assert results[0]["radicale_first_listing"]["members"] == 50
    saved = json.loads((tmp_path / "moving.json").read_text())
    assert saved["results"][0]["import"]["items_per_second"] > 0
    assert "| import radicale, items/s |" in (tmp_path / "moving.md").read_text()
