# DualScan: `make demo` and `make test` each set up .venv (once) and run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= out/demo
DEMO_MODEL ?= demo/model
QUALITY_MODEL ?= detectors/quality
QUALITY_SCANS ?= 60
# the demo's scans: world 1 (the shipped detectors' world until they are retrained), 256² (1.95 mm),
# anomalies drawn twice their size, no extra screws (README, "Two commands")
DEMO_SCANS := --world 1 --size 256 --anomaly-scale 2 --anomaly-kinds blade,metal_plate,organic_block,wire_bundle

.PHONY: demo demo-model test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing DualScan and its dependencies into $(VENV) (first time: a few minutes)"
	@$(PY) -m pip install -q -e '.[dev]' > $(VENV)/pip.log 2>&1 || (tail -n 40 $(VENV)/pip.log; exit 1)
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/dualscan synth --out $(DEMO_DIR)/archive --n 120 --seed 0 $(DEMO_SCANS) --preview
	$(VENV)/bin/dualscan study --config study/configs/smoke.yaml --local --overwrite \
		--data $(DEMO_DIR)/archive --storage $(CURDIR)/out/runs
	$(VENV)/bin/dualscan score --archive $(DEMO_DIR)/archive --model $(DEMO_MODEL) \
		--out $(DEMO_DIR)/report --local --overlays 4
	$(VENV)/bin/dualscan evaluate --model $(DEMO_MODEL) --archive $(DEMO_DIR)/archive --split test \
		--out $(DEMO_DIR)/report/evaluation.json
	$(VENV)/bin/dualscan report-summary $(DEMO_DIR)/report --top 5
	$(VENV)/bin/dualscan report-html $(DEMO_DIR)/report
	@echo "the quality detector (detectors/quality) on $(QUALITY_SCANS) fresh scans at the real size and difficulty"
	$(VENV)/bin/dualscan synth --out $(DEMO_DIR)/quality-archive --n $(QUALITY_SCANS) --seed 5 --size 512 --world 1 \
		--split 0 --val 0 --no-previews --quiet
	$(VENV)/bin/dualscan score --archive $(DEMO_DIR)/quality-archive --model $(QUALITY_MODEL) \
		--out $(DEMO_DIR)/quality-report --local --overlays 4
	$(VENV)/bin/dualscan evaluate --model $(QUALITY_MODEL) --archive $(DEMO_DIR)/quality-archive --split test \
		--out $(DEMO_DIR)/quality-report/evaluation.json
	$(VENV)/bin/dualscan report-html $(DEMO_DIR)/quality-report

# rebuilds the shipped demo model from the simulator (about 1 h 40 min on 2 CPU cores: finder 33 min, classifier 62 min)
demo-model: $(STAMP)
	$(VENV)/bin/dualscan synth --out out/demo-model/archive --n 1000 --seed 1 $(DEMO_SCANS) --no-previews
	$(VENV)/bin/dualscan train --config study/configs/demo.yaml --data out/demo-model/archive \
		--out out/demo-model/trained
	$(VENV)/bin/dualscan export-model out/demo-model/trained $(DEMO_MODEL) --half --rebuild "make demo-model"

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q --durations=25

bench: $(STAMP)
	$(PY) benchmarks/synth_speed.py
	$(PY) benchmarks/archive_read.py
	$(PY) -m benchmarks.ssn_speed
	$(PY) -m benchmarks.ssn_memory
	$(PY) -m benchmarks.subcomponent_speed
	$(PY) -m benchmarks.tune_efficiency
	$(PY) -m benchmarks.pipeline_quality
	$(PY) -m benchmarks.scoring_throughput

clean:
	rm -rf out .pytest_cache .ruff_cache
