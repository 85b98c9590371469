# The two commands of the README: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format venv clean lock audit proto

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-sandbox.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ echo "service-courier needs Python 3.11 or newer as '$(PYTHON)' (make PYTHON=/path/to/python3.11 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

demo: venv
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py demo $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# pytest exits 5 when it collected no test: a suite that ran nothing has not passed.
test: lint
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
		if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; fi; exit $$status

# Every dependency, transitive ones too, pinned with its hashes (pip-tools): run after changing a requirements*.txt.
# The image installs the .lock files with --require-hashes.
LOCKS := requirements requirements-sandbox requirements-build
lock: venv
	@for name in $(LOCKS); do \
		PIP_FIND_LINKS= $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --no-strip-extras \
			--no-emit-find-links --no-emit-index-url --output-file $$name.lock $$name.txt || exit 1; \
	done

# Known vulnerabilities of the image's locked pins, from PyPI's advisory data (its JSON API). --strict: a pin it
# cannot look up fails the audit instead of passing unchecked.
audit: venv
	$(BIN)/pip-audit --strict --require-hashes --disable-pip --no-deps --progress-spinner off -r requirements.lock

# The gRPC client's code, generated from gateway/proto/orders_v1.proto and committed (grpcio-tools: requirements-dev).
proto: venv
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. gateway/proto/orders_v1.proto

clean:
	rm -rf $(VENV) staticfiles artifacts test_db_*.sqlite3* .pytest_cache .ruff_cache
