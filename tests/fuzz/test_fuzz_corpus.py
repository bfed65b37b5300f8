"""The hostile corpus (``_fuzz_corpus``), run in subprocesses under a memory limit
(``_fuzz_runner``): every case must end in a clean refusal or a valid result, and
leave the caller's arrays unchanged."""

import collections

import _fuzz_runner as R
from _fuzz_profile import PROFILE

#: Random storage corruptions added to the fixed corpus by the thorough profile.
THOROUGH_RANDOM = 10_000


def test_runner_reports_crashes_hangs_runaway_allocations_and_mutations():
    """The runner itself: each planted defect must come back as a failure, and the
    cases after a crash must still run."""
    import _fuzz_corpus as C

    results = R.run("selftest", case_timeout=5.0)
    got = {label: status for _, _, label, status, _ in results}
    want = {label: status for label, (status, _) in C.SELF_TEST.items()}
    want["clean refusal"] = "refused"
    assert got == want
    assert {r[3] for r in R.failures(results)} == set(R.FAILURES) - {
        "wrong", "invalid", "corpus"}


def test_hostile_corpus_ends_in_clean_refusals_or_valid_results():
    if PROFILE == "thorough":
        results = R.run("fixed", THOROUGH_RANDOM, seed=0, workers=2)
    else:
        results = R.run("fixed", indices=R.default_indices("fixed"), workers=2)
    table = R.summarize(results)
    counts = {entry: sum(c.values()) for entry, c in table.items()}
    assert sum(counts.values()) == len(results) > 0
    bad = R.failures(results)
    lines = [f"{entry}: {label} -> {status}: {detail}" for _, entry, label, status, detail in bad]
    assert not bad, f"{len(bad)} of {len(results)} hostile cases failed:\n" + "\n".join(lines)


def test_corpus_covers_every_public_constructor_and_reader():
    import _fuzz_corpus as C

    entries = collections.Counter(c.entry for c in C.select("fixed"))
    for entry in ("csr_array", "csc_array", "nm_array", "banded_array", "A @ operand",
                  "operand @ A", "A + operand", "A - operand", "A.multiply(operand)",
                  "A.sum(axis)", "A.diagonal(k)", "A.toarray(order)", "A.astype(dtype)",
                  "spla.io.mmread", "spla.io.mmwrite", "spla.dask.read_matrix_market",
                  "spla.sparsity"):
        assert entries[entry] >= 8, entry
