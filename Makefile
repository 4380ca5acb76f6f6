# The two commands of the README. Both set everything up from a fresh clone.
.PHONY: demo test lint format screenshots

demo:  ## set up, load a demo organization, start the server on http://127.0.0.1:8000
	scripts/uv.sh sync --frozen
	scripts/uv.sh run cohortd demo

test:  ## set up and run the whole test suite (what CI runs)
	scripts/test.sh

lint:
	scripts/uv.sh run ruff check src tests benchmarks
	scripts/uv.sh run mypy src/cohortd

format:
	scripts/uv.sh run ruff format src tests benchmarks
	scripts/uv.sh run ruff check --fix src tests benchmarks

screenshots:  ## re-take the dashboard screenshots in docs/screenshots (browser tests)
	COHORTD_UPDATE_DOC_SCREENSHOTS=1 scripts/uv.sh run pytest tests/web -m browser -q
