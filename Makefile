# Two commands matter: `make serve` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVE_STAMP := $(VENV)/.installed-serve
DEV_STAMP := $(VENV)/.installed-dev
DATA_DIR ?= ../shared/mnist

.PHONY: serve test lint format train evaluate bench robustness handwriting loadtest metrics-overhead clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed, found " + sys.version'
	$(PYTHON) -m venv $(VENV)

# Serving only: Flask, Gunicorn, ONNX Runtime (no TensorFlow, no XGBoost).
$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# Everything: training stack and test tools.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $@ $(SERVE_STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/mnist-serve serve

test: $(DEV_STAMP)
	$(BIN)/python -m pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Retrain the shipped models with their recipes (the README says how long it took here);
# DATA_DIR= to download instead.
train: $(DEV_STAMP)
	$(BIN)/mnist-serve train $(if $(DATA_DIR),--data-dir $(DATA_DIR))

evaluate: $(SERVE_STAMP)
	$(BIN)/mnist-serve evaluate $(if $(DATA_DIR),--data-dir $(DATA_DIR))

# MNIST test digits as image files at other sizes and positions (about 10 minutes on 2 cores).
robustness: $(DEV_STAMP)
	$(BIN)/mnist-serve robustness $(if $(DATA_DIR),--data-dir $(DATA_DIR))

# Real handwritten digits from another data set (scikit-learn's optdigits) as image files.
handwriting: $(DEV_STAMP)
	$(BIN)/mnist-serve handwriting

bench: $(DEV_STAMP)
	$(BIN)/mnist-serve bench

# wrk must be installed (Debian/Ubuntu: apt-get install wrk); the command says so if it is not.
# Request bodies rotate through MNIST test images from DATA_DIR (or the verified download).
LOADTEST := $(BIN)/mnist-serve loadtest $(if $(DATA_DIR),--data-dir $(DATA_DIR)) --repeat 3
loadtest: $(DEV_STAMP)
	$(LOADTEST) --out benchmarks/results/loadtest.json
	$(LOADTEST) --targets product,floor,floor+models --workers 1,2,4,8 \
		--out benchmarks/results/loadtest-sweep.json
	$(LOADTEST) --targets product,floor,floor+models --payload binary \
		--out benchmarks/results/loadtest-binary.json
	$(LOADTEST) --targets product,floor,floor+models --payload batch-binary --batch 256 \
		--endpoint '/verify_vector_image?output=labels' \
		--out benchmarks/results/loadtest-batch256.json
	$(BIN)/python benchmarks/update_readme.py

# Prometheus metrics on vs off, interleaved in one run (about 5 minutes on 2 cores).
metrics-overhead: $(DEV_STAMP)
	$(BIN)/mnist-serve loadtest $(if $(DATA_DIR),--data-dir $(DATA_DIR)) \
		--targets product,product-no-metrics --repeat 5 --duration 20 \
		--out benchmarks/results/metrics_overhead.json
	$(BIN)/python benchmarks/update_readme.py

# Faults under load and the serving options (worker class and count, nginx in front): about
# 20 minutes on 2 cores, loopback only; fills the README's "Running in production" tables.
.PHONY: production
production: $(DEV_STAMP)
	$(BIN)/mnist-serve faults --out benchmarks/results/faults.json
	$(BIN)/python -m benchmarks.serving_options --rounds 3 --out benchmarks/results/serving_options.json
	$(BIN)/python benchmarks/update_readme.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .hypothesis

# One pod's capacity and 3 replicas behind Debian's nginx (loopback only), then the README's
# "Scaling out" tables: about 3 minutes on a quiet 2-core machine.
.PHONY: scale-bench
scale-bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/capacity.py --workers 2 --duration 30 --apply $(if $(DATA_DIR),--data-dir $(DATA_DIR))
	$(BIN)/python benchmarks/replicas.py
	$(BIN)/python benchmarks/update_readme.py
