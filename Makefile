# prefixasr: the two commands of the README, plus benchmarks.
#   make demo    the Indic recipe on the embedded synthetic corpus (installs what is missing first)
#   make test    the test suite (installs what is missing first)
#   make bench   speed/memory benchmarks: tables on stdout, JSON in benchmarks/results/
#   make install venv + packages + fast_rnnt + system packages (tools/Makefile)

PY := tools/venv/bin/python
PYTEST_ARGS ?=
# pytest-xdist workers: one a core, at most 4 (each holds its own torch; 0: no workers, one process); a test file
# stays on one worker, so the recipe tests' shared micro run is made once
TEST_WORKERS ?= $(shell n=$$(nproc); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: install test demo bench clean

install:
	$(MAKE) -C tools

test: install
	PREFIXASR_REQUIRE_TOOLS=1 $(PY) -m pytest test/ -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

demo: install
	cd egs/indic && ./run.sh
	cat egs/indic/RESULTS.md

bench: install
	$(PY) -m benchmarks.run_all

clean:
	$(MAKE) -C tools clean
