# The two commands of the README. Each one sets up ./.venv itself (pinned dependencies).
# Tests run in one pytest-xdist worker per core (each pinned to its core, tests/conftest.py).
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
.PHONY: demo test clean-venv

# The demo: GDAS plain and with the curriculum on the same seed, then both side by side.
demo:
	./scripts/setup-env.sh test
	.venv/bin/nni-cnas search --space nb201 --strategy gdas --curriculum none \
		--dataset digits --epochs 30 --channels 8 --cells 1 --arch-lr 0.03 --seed 0 --out runs/demo-gdas --overwrite
	.venv/bin/nni-cnas search --space nb201 --strategy gdas --curriculum epoch --k 5 \
		--dataset digits --epochs 30 --channels 8 --cells 1 --arch-lr 0.03 --seed 0 --out runs/demo-cl-gdas --overwrite
	.venv/bin/nni-cnas report runs/demo-gdas runs/demo-cl-gdas
	@echo "nni-cnas is installed in .venv/bin: run 'source .venv/bin/activate' to type nni-cnas commands yourself"

test:
	./scripts/setup-env.sh test
	.venv/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

clean-venv:
	rm -rf .venv
