"""The scoring job on Ray: bad files become rows, counts add up, DuckDB reads it, re-runs replace it,
a killed worker is retried with every file still once, overlays, and fail-fast errors."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from jobs.scoring.batches import Scorer
from jobs.scoring.report import ReportError
from jobs.scoring.run import ScoreOptions, run_scoring
from jobs.scoring.schema import ITEMS_SCHEMA, REPORT_VERSION, SCANS_SCHEMA, SEGMENTS_SCHEMA
from scans.archive import Archive
from scans.modalities import ModalityError
from tests.jobs.scoring.conftest import MISSING_INDEX, PLANTED, WRONG_SIZE_INDEX
from tests.jobs.scoring.drills import dying_scorer, failing_scorer

pytestmark = pytest.mark.slow
N_FILES = 6 + len(PLANTED)


def _score(archive: str, model: str, out: Path, scorer: type[Scorer] = Scorer, **kwargs) -> dict:
    return run_scoring(ScoreOptions(archive=archive, model=model, out=str(out), batch_size=4,
                                    progress=False, **kwargs), scorer)


@pytest.fixture(scope="module")
def report(ray_session, bad_archive, model_dir, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("reports") / "bad"
    return out, _score(bad_archive, model_dir, out, overlays=2)


def test_every_file_has_one_row_with_its_status(report):
    out, success = report
    scans = pq.read_table(out / "scans").to_pandas().set_index("scan_id")
    assert len(scans) == N_FILES and scans.index.is_unique
    errors = scans[scans.status == "error"]
    listed = [f"scan_{i:06d}" for i in range(6)]
    assert set(errors.index) == set(PLANTED) | {listed[WRONG_SIZE_INDEX], listed[MISSING_INDEX]}
    for stem, phrase in PLANTED.items():
        assert phrase in errors.loc[stem, "error"] and f"scans/{stem}.npz" in errors.loc[stem, "error"]
    assert errors.score.isna().all() and errors.is_anomalous.isna().all()
    ok = scans[scans.status == "ok"]
    assert ok.error.isna().all() and (ok.n_segments > 0).all() and (ok.height == 96).all()
    assert ok.score.between(0, 1).all() and (ok.pipeline == "ssn").all() and (ok.modality == "pseudo").all()
    assert success["counts"] == {"files": N_FILES, "ok": 4, "error": N_FILES - 4,
                                 "anomalous": int(ok.is_anomalous.sum())}
    on_disk = json.loads((out / "_SUCCESS").read_text())
    assert on_disk["counts"] == success["counts"] and on_disk["model"]["pipeline"] == "ssn"


# what a reader of report v1 reads: v2 keeps every column, in place, and adds after them
V1_COLUMNS = {
    "scans": ["scan_id", "source", "status", "error", "pipeline", "modality", "model_sha256", "threshold",
              "score", "is_anomalous", "n_segments", "n_anomalous_segments", "anomalous_area_frac", "height",
              "width", "latency_ms", "scored_at"],
    "segments": ["scan_id", "segment_id", "score", "is_anomalous", "area_px", "x0", "y0", "x1", "y1", "cx",
                 "cy"]}


def test_report_files_follow_format_v2_with_metadata(report, model_dir):
    out, success = report
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", "items", "overlays", "scans", "segments"]
    assert not list(out.parent.glob("bad.tmp-*"))
    assert success["report_version"] == REPORT_VERSION == 2
    for table, columns in V1_COLUMNS.items():  # a v1 reader's columns, read as before
        read = pq.read_table(out / table, columns=columns)
        assert read.column_names == columns and read.num_rows > 0
    assert pq.read_table(out / "items").num_rows == 0  # a whole-scan model finds no items
    assert pq.read_table(out / "segments", columns=["item_id"]).column("item_id").null_count == \
        pq.read_table(out / "segments").num_rows
    for table, schema in (("scans", SCANS_SCHEMA), ("segments", SEGMENTS_SCHEMA), ("items", ITEMS_SCHEMA)):
        files = sorted((out / table).iterdir())
        assert files and all(f.name.startswith("part-") and f.suffix == ".parquet" for f in files)
        for file in files:
            read = pq.read_schema(file)
            assert read.remove_metadata().equals(schema)
            meta = {k.decode(): v.decode() for k, v in read.metadata.items()}
            assert meta["dualscan.report_version"] == str(REPORT_VERSION)
            assert meta["dualscan.model_sha256"] == success["model"]["sha256"]
            assert json.loads(meta["dualscan.config"])["threshold"] == 0.5
            assert "dualscan.version" in meta


def test_segments_match_their_scans(report):
    out, _ = report
    scans = pd.read_parquet(out / "scans")
    segments = pads.dataset(out / "segments").to_table().to_pandas()
    per_scan = segments.groupby("scan_id").agg(n=("segment_id", "size"), top=("score", "max"),
                                               area=("area_px", "sum"), bad=("is_anomalous", "sum"))
    ok = scans[scans.status == "ok"].set_index("scan_id")
    assert set(per_scan.index) == set(ok.index)
    assert (per_scan.n == ok.n_segments).all() and (per_scan.bad == ok.n_anomalous_segments).all()
    assert (per_scan.top - ok.score).abs().max() < 1e-6
    assert (per_scan.area == 96 * 96).all()
    assert ((segments.x0 < segments.x1) & (segments.y0 < segments.y1)).all()


def test_duckdb_queries_the_report(report):
    out, success = report
    con = duckdb.connect()
    rows = con.execute(f"""
        SELECT s.status, count(DISTINCT s.scan_id) AS scans, count(g.segment_id) AS segments
        FROM read_parquet('{out}/scans/*.parquet') s
        LEFT JOIN read_parquet('{out}/segments/*.parquet') g USING (scan_id)
        GROUP BY s.status ORDER BY s.status""").fetchall()
    segments = con.execute(f"SELECT count(*) FROM read_parquet('{out}/segments/*.parquet')").fetchone()[0]
    assert rows == [("error", N_FILES - 4, 0), ("ok", 4, segments)]
    top = con.execute(f"SELECT scan_id FROM read_parquet('{out}/scans/*.parquet') WHERE status = 'ok' "
                      "ORDER BY score DESC LIMIT 2").fetchall()
    names = [f"0{i + 1:03d}_{scan_id}.png" for i, (scan_id,) in enumerate(top)]
    assert names == success["overlay_groups"]["top"]


def test_overlays_are_the_top_scans_and_the_worst_misses_as_pngs(report, small_archive):
    from PIL import Image

    out, success = report
    groups = success["overlay_groups"]
    assert sorted(p.name for p in (out / "overlays").iterdir()) == sorted(success["overlays"])
    assert sum(map(len, groups.values())) == len(success["overlays"]) and len(groups["top"]) == 2
    # the misses come from the archive's labels: benign scans scoring highest, anomalous lowest
    truth = {r["scan_id"]: r["is_anomalous"] for r in Archive(small_archive).manifest.to_pylist()}
    scans = pd.read_parquet(out / "scans")
    scans = scans[(scans["status"] == "ok") & scans["scan_id"].isin(list(truth))]
    scans = scans.assign(truth=scans["scan_id"].map(truth))
    for group, truly, ascending in (("highest_benign", False, False), ("lowest_anomalous", True, True)):
        expected = scans[scans["truth"] == truly].sort_values("score", ascending=ascending)["scan_id"][:2]
        assert [name.split("_", 3)[3].removesuffix(".png") for name in groups[group]] == list(expected)
    image = Image.open(out / "overlays" / groups["top"][0])
    assert image.mode == "RGB" and image.width >= 512 and image.height > image.width  # title strip


def test_rerunning_to_the_same_output_replaces_the_report(ray_session, small_archive, model_dir, tmp_path):
    out = tmp_path / "report"
    first = _score(small_archive, model_dir, out)
    (out / "scans" / "stale.parquet").write_bytes(b"left over")
    second = _score(small_archive, model_dir, out, threshold=0.0)
    assert not (out / "scans" / "stale.parquet").exists()
    assert first["counts"]["files"] == second["counts"]["files"] == 6
    assert second["counts"]["anomalous"] == 6  # threshold 0 flags every scan
    assert len(pd.read_parquet(out / "scans")) == 6


def test_the_driver_reads_no_scored_rows(ray_session, small_archive, model_dir, tmp_path, monkeypatch):
    """The report is written by the cluster's write tasks: the driver (this process) opens no file
    of the report and writes none of its rows, only gathers the tasks' manifests."""
    out = tmp_path / "report"

    def guarded(original):
        def read(source, *args, **kwargs):
            if isinstance(source, pa.NativeFile) or str(out) in str(source):
                raise AssertionError(f"the driver read the report's rows ({source})")
            return original(source, *args, **kwargs)
        return read

    for name in ("read_table", "ParquetFile", "ParquetDataset"):
        monkeypatch.setattr(pq, name, guarded(getattr(pq, name)))
    monkeypatch.setattr(pads, "dataset", guarded(pads.dataset))
    monkeypatch.setattr(pq, "ParquetWriter", guarded(lambda *a, **k: pytest.fail("the driver wrote rows")))
    success = _score(small_archive, model_dir, out)
    monkeypatch.undo()
    assert success["counts"]["files"] == 6 and len(pd.read_parquet(out / "scans")) == 6


def test_a_killed_worker_is_retried_and_every_file_is_scored_once(ray_session, bad_archive, model_dir,
                                                                   tmp_path):
    marker = tmp_path / "killed"
    success = _score(bad_archive, model_dir, tmp_path / "report", dying_scorer(str(marker)))
    assert marker.exists()  # a worker process did die mid-job
    scans = pd.read_parquet(tmp_path / "report" / "scans")
    assert len(scans) == N_FILES and scans.scan_id.is_unique
    assert success["counts"]["ok"] == 4 and success["counts"]["error"] == N_FILES - 4


def test_a_scan_the_model_fails_on_is_an_error_row_and_the_job_goes_on(ray_session, bad_archive, model_dir,
                                                                     tmp_path):
    listed = [f"scan_{i:06d}" for i in range(6)]  # 2..5 decode; the model fails on 3, runs out of memory
    log = tmp_path / "drilled"
    drill = failing_scorer({listed[3]}, {listed[4]}, str(log))  # on 4 in a batch (alone it fits)
    success = _score(bad_archive, model_dir, tmp_path / "report", drill)
    drilled = log.read_text().splitlines()  # both drills fired, on the actors
    assert any(d.startswith("out_of_memory ") and listed[4] in d.split(" ")[1].split(",") for d in drilled)
    assert f"failed {listed[3]}" in drilled, drilled
    scans = pd.read_parquet(tmp_path / "report" / "scans").set_index("scan_id")
    assert len(scans) == N_FILES and scans.index.is_unique
    assert success["counts"]["ok"] == 3 and success["counts"]["error"] == N_FILES - 3
    message = "the model failed on this scan (RuntimeError: drilled model failure)"
    assert scans.loc[listed[3], "error"].endswith(message)
    assert f"scans/{listed[3]}.npz" in scans.loc[listed[3], "error"]
    assert (scans.loc[[listed[2], listed[4], listed[5]], "status"] == "ok").all()


def test_fail_fast_before_any_work(ray_session, small_archive, hlz_model_dir, model_dir, tmp_path):
    pseudo_only = tmp_path / "pngs"
    pseudo_only.mkdir()
    from PIL import Image

    Image.new("RGB", (32, 32)).save(pseudo_only / "a.png")
    with pytest.raises(ModalityError, match="needs modality 'hlz'"):
        _score(str(pseudo_only), hlz_model_dir, tmp_path / "r1")
    not_report = tmp_path / "precious"
    not_report.mkdir()
    (not_report / "data.txt").write_text("keep me")
    with pytest.raises(ReportError, match="is not a DualScan report"):
        _score(small_archive, model_dir, not_report)
    assert (not_report / "data.txt").read_text() == "keep me"
    with pytest.raises(ReportError, match="inside the archive"):
        _score(small_archive, model_dir, Path(small_archive) / "report")
    assert not (tmp_path / "r1").exists()


def _resources(cluster: dict, maximum: dict | None = None, n_files: int = 10_000, **kwargs):
    from jobs.scoring.resources import scorer_resources

    return scorer_resources(ScoreOptions(archive="a", model="m", out="o", batch_size=16, **kwargs), n_files,
                            cluster, maximum)


def test_worker_resources_leave_a_cpu_and_share_the_cores_out():
    two_cpus = {"CPU": 2.0}
    auto = _resources(two_cpus, n_files=100)  # an actor per CPU, 1 thread each
    assert (auto.workers, auto.gpus, auto.cpus, auto.torch_threads, auto.note) == (2, 0.0, 0.5, 1, "")
    assert (auto.min_workers, auto.max_workers) == (1, 2)  # no autoscaler: the cluster as it is
    one = _resources(two_cpus, n_files=100, workers=1)
    assert (one.workers, one.gpus, one.cpus, one.torch_threads, one.note) == (1, 0.0, 1.0, 2, "")
    assert one.min_workers == one.max_workers == 1  # --workers: a fixed pool
    two = _resources(two_cpus, n_files=100, workers=2)
    assert (two.cpus, two.torch_threads) == (0.5, 1) and "leave no CPU" in two.note
    assert _resources(two_cpus, n_files=100, torch_threads=3).torch_threads == 3
    assert _resources(two_cpus, n_files=31).workers == 1  # never more actors than full batches
    assert _resources(two_cpus, n_files=100, gpus_per_worker=0.5).workers == 1  # no GPU: still one actor


@pytest.mark.parametrize(("cluster", "maximum", "kwargs", "expected"), [
    ({"CPU": 16.0}, None, {}, (14, 1, 14, 0.0, 1.0, 1)),  # one CPU in eight left to the decode tasks
    ({"CPU": 8.0}, None, {}, (7, 1, 7, 0.0, 1.0, 1)),
    ({"CPU": 4.0}, None, {}, (4, 1, 4, 0.0, 0.75, 1)),  # one CPU's reservation left to the others
    ({"CPU": 16.0, "GPU": 4.0}, None, {}, (4, 1, 4, 1.0, 1.0, 1)),  # one actor per GPU, threads = CPUs
    ({"CPU": 16.0, "GPU": 4.0}, None, {"gpus_per_worker": 0.5}, (8, 1, 8, 0.5, 1.0, 1)),
    ({"CPU": 16.0, "GPU": 4.0}, None, {"cpus_per_worker": 3.0}, (4, 1, 4, 1.0, 3.0, 3)),
    ({"CPU": 16.0}, None, {"workers": 4}, (4, 4, 4, 0.0, 1.0, 4)),  # given actors share the cores out
    # an autoscaling cluster: GPU workers from zero to 8 nodes of 1 GPU; the pool asks for GPUs
    ({"CPU": 4.0}, {"CPU": 68.0, "GPU": 8.0}, {}, (1, 1, 8, 1.0, 1.0, 1)),
    ({"CPU": 4.0}, {"CPU": 68.0, "GPU": 8.0}, {"gpus_per_worker": 0}, (4, 1, 60, 0.0, 0.75, 1)),
    ({"CPU": 4.0}, None, {"max_workers": 6, "min_workers": 2}, (4, 2, 6, 0.0, 0.75, 1)),
])
def test_worker_resources_on_larger_clusters(cluster, maximum, kwargs, expected):
    got = _resources(cluster, maximum, **kwargs)
    assert (got.workers, got.min_workers, got.max_workers, got.gpus, got.cpus, got.torch_threads) == expected


def test_custom_worker_resources_bound_the_pool_like_gpus():
    slots = {"worker_resources": {"scorer": 1.0}}
    # two nodes' worth of slots now, six at most: the pool starts at two and may grow to six
    got = _resources({"CPU": 16.0, "scorer": 2.0}, {"CPU": 64.0, "scorer": 6.0}, **slots)
    assert (got.workers, got.max_workers) == (2, 6)
    assert _resources({"CPU": 16.0, "scorer": 3.0}, None, worker_resources={"scorer": 1.5}).workers == 2
    # no node holds the resource yet (an autoscaler may bring one): one actor, which waits for it
    assert _resources({"CPU": 16.0}, None, **slots).workers == 1
    assert _resources({"CPU": 16.0, "scorer": 2.0}, None, max_workers=5, **slots).max_workers == 5


@pytest.mark.parametrize("resources", [{"CPU": 1.0}, {"GPU": 1.0}, {"scorer": 0.0}, {"": 1.0},
                                       {"scorer": -1.0}])
def test_worker_resources_refuse_what_ray_would_not_place(resources):
    with pytest.raises(ValueError, match="--worker-resource"):
        ScoreOptions(archive="a", model="m", out="o", worker_resources=resources)


def test_worker_resource_flags_parse_or_name_the_bad_one():
    from jobs.score import worker_resources

    assert worker_resources(["scorer=1", "fast_disk=0.5"]) == {"scorer": 1.0, "fast_disk": 0.5}
    assert worker_resources([]) == {}
    for bad in ("scorer", "scorer=one"):
        with pytest.raises(ValueError, match=f"--worker-resource '{bad}'"):
            worker_resources([bad])


@pytest.mark.parametrize(("n_files", "workers", "expected"), [
    (2000, 1, 15),  # about eight batches of 16 per block
    (2000, 2, 16),  # ... rounded up to a multiple of the actors
    (500, 2, 8),  # at least four blocks per actor
    (40, 3, 3),  # fewer full batches than four per actor: one block per batch, then rounded up
    (5, 1, 1),  # under one batch
    (10**6, 1, 256),  # capped
])
def test_input_blocks(n_files, workers, expected):
    from jobs.scoring.run import _input_blocks

    blocks = _input_blocks(n_files, 16, workers)
    assert blocks == expected
    assert blocks % workers == 0 and blocks <= n_files


def test_an_item_first_model_scores_found_items_at_native_pitch(ray_session, bad_archive, small_archive_val,
                                                                  tmp_path):
    from jobs.train import get_args_parser, main

    config = tmp_path / "items.yaml"
    config.write_text(json.dumps({
        "name": "t", "data": {"archive": small_archive_val, "cache": str(tmp_path / "cache")},
        "space": {"pipelines": ["subcomponent"], "backbones": ["resnet18"], "modalities": ["hlz"],
                  "k": [20], "lr": [1e-3], "batch_size": [2]},
        "items": {"steps": 2, "batch": 2, "min_item_px": 10}, "recipe": {"steps": 1, "tile": 32}}))
    model = tmp_path / "model"
    assert main(get_args_parser().parse_args(["--config", str(config), "--out", str(model)])) == 0
    out = tmp_path / "report"
    success = _score(bad_archive, str(model), out, threshold=0.0)  # bad files too: each is its row
    scans = pd.read_parquet(out / "scans")
    assert success["counts"]["files"] == N_FILES and len(scans) == N_FILES
    assert success["model"]["image_size"] is None and success["model"]["pipeline"] == "subcomponent"
    ok = scans[scans["status"] == "ok"]
    segments = pd.read_parquet(out / "segments")
    # segments are the superpixels of found items, measured in the scan's own pixels
    assert set(segments["scan_id"]) <= set(ok["scan_id"])
    merged = segments.merge(ok[["scan_id", "height", "width"]], on="scan_id")
    assert (merged["x1"] <= merged["width"]).all() and (merged["y1"] <= merged["height"]).all()
    counts = segments.groupby("scan_id").size()
    assert (ok.set_index("scan_id")["n_segments"].reindex(counts.index) == counts).all()


def test_the_report_page_loads_in_headless_chromium(report, tmp_path):
    from jobs.scoring.report_page import write_report_page
    from tests.browser import is_blank, load_page, require_browser

    require_browser()
    out, success = report
    uri = write_report_page(str(out))
    page = Path(uri)
    assert page == out / "index.html" and (out / "histogram.png").exists()
    text = page.read_text()
    for name in success["overlays"]:
        assert f'src="overlays/{name}"' in text
    assert f"Errors ({N_FILES - 4})" in text and "Worst misses" in text  # planted files; misses
    seen = load_page(page)
    assert seen.console_errors == [] and seen.failed_requests == []
    assert len(seen.images) == len(success["overlays"]) + 1  # the overlays and the histogram
    assert all(i["complete"] and i["naturalWidth"] > 0 for i in seen.images), seen.images
    assert not is_blank(seen.screenshot) and seen.title.startswith("DualScan report")


def test_off_a_terminal_progress_is_a_line_per_interval_and_a_summary(ray_session, small_archive, model_dir,
                                                                       tmp_path, capfd, monkeypatch):
    import scans.progress

    monkeypatch.setattr(scans.progress, "LINE_INTERVAL_S", 0.5)
    success = run_scoring(ScoreOptions(archive=small_archive, model=model_dir, out=str(tmp_path / "r"),
                                       batch_size=2, progress=True))
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("score: ")]
    files = success["counts"]["files"]
    assert lines and lines[-1].startswith(f"score: {files} scans in ")
    assert "scans/s" in lines[-1] or "per scan" in lines[-1]
    assert all(f"/{files} scans (" in line for line in lines[:-1])
    assert "Running Dataset" not in err  # Ray Data's multi-line blocks are off
