"""The GPU indexing benchmark's logic (``benchmarks.gpu_indexing``) run on the CPU:
NumPy for CuPy and SciPy for cupyx.scipy.sparse, on a small matrix. Every case
runs, its spla result is checked against the baseline's inside the suite (an
``AssertionError`` there fails this test), and the Markdown table lists it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import gpu_indexing  # noqa: E402


def test_suite_runs_every_case_on_the_cpu_and_checks_it():
    lines = []
    rows = gpu_indexing.run_suite(3000, 1, backend=gpu_indexing.cpu_backend(),
                                  out=lambda *a, **k: lines.append(" ".join(map(str, a))))
    names = [r["case"] for r in rows]
    assert len(names) == len(set(names)) == 14
    for r in rows:
        assert r["spla_ms"] > 0
        if r["case"].startswith(("COO", "N:M", "banded")):
            assert "baseline_ms" not in r  # spla-only writes
        else:
            assert r["check"] is True and r["baseline_ms"] > 0
    table = gpu_indexing.markdown({"indexing": rows})
    assert sum(line.startswith("| ") for line in table) == 2 + len(rows)
    assert len(lines) == 2 + len(rows)  # the header, a line a case, the reads' summary
    assert any(line.strip().startswith("reads: baseline / spla") for line in lines)


def test_time_calls_makes_a_fresh_argument_per_sample():
    made = []

    def make():
        made.append(1)
        return []

    t = gpu_indexing.time_calls({"w": (make, lambda M: M.append(1))}, lambda: None,
                                repeat=3, warmup=1)
    assert len(made) == 4 and t["w"]["median"] >= 0


def test_index_parts_dry_run_times_every_case(capsys):
    from benchmarks import gpu_index_parts

    res = gpu_index_parts.main(["3000", "1", "--cpu"])
    assert len(res) == 11 and all(t["median"] > 0 for t in res.values())
    assert len(capsys.readouterr().out.splitlines()) == 1 + len(res)
