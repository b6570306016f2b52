# DualScan: `make demo` and `make test` each set up .venv (once) and run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= out/demo

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing DualScan and its dependencies into $(VENV) (first time: a few minutes)"
	@$(PY) -m pip install -q -e '.[dev]' > $(VENV)/pip.log 2>&1 || (tail -n 40 $(VENV)/pip.log; exit 1)
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/dualscan synth --out $(DEMO_DIR)/archive --n 64 --size 256 --seed 0 --preview
	$(VENV)/bin/dualscan study --config study/configs/smoke.yaml --local --overwrite \
		--data $(DEMO_DIR)/archive --storage $(CURDIR)/out/runs
	$(VENV)/bin/dualscan score --archive $(DEMO_DIR)/archive --model out/runs/smoke/best \
		--out $(DEMO_DIR)/report --local --overlays 4
	$(VENV)/bin/dualscan report-summary $(DEMO_DIR)/report --top 5

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

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
