"""The sparse-training example of docs/sparse_training.md, run from the document
itself: a 2:4-sparse linear model trained with the straight-through estimator."""

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

import spla
from spla import prune

DOC = Path(__file__).resolve().parent.parent / "docs" / "sparse_training.md"


def _doc_code():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]


def _run(code):
    ns = {}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(code, str(DOC), "exec"), ns)
    return ns, out.getvalue()


def test_ste_example_in_docs():
    ns, printed = _run(_doc_code())
    L_dense, L_proj, L_srste, L_plain = (ns[k] for k in ("L_dense", "L_proj", "L_srste",
                                                         "L_plain"))
    W = ns["W_srste"]
    # The trained model is exactly 2:4 (at most 2 non-zeros per group of 4 along rows).
    assert spla.nm_array(W).toarray().tolist() == W.tolist()
    assert np.all((W.reshape(W.shape[0], -1, 4) != 0).sum(axis=2) <= 2)
    # The stated factors: no worse than the 2:4 projection of the dense optimum,
    # within 4x of the dense optimum (a lower bound for every 2:4 model).
    assert L_dense <= L_srste <= L_proj
    assert L_srste <= 4.0 * L_dense
    # Plain STE (no decay of pruned weights) does worse than one-shot projection.
    assert L_plain > L_proj
    # SR-STE's mask is the 2:4 mask of the true weights, and refitting least squares
    # on it gives the same loss (the kept weights are optimal for the mask).
    X, Y = ns["X"], ns["Y"]
    M = prune.nm_mask(W)
    np.testing.assert_array_equal(M, prune.nm_mask(ns["W_true"]))
    refit = np.zeros_like(W)
    for r in range(W.shape[0]):
        refit[r, M[r]] = np.linalg.lstsq(X[:, M[r]], Y[:, r], rcond=None)[0]
    assert ns["loss"](refit) == pytest.approx(L_srste, rel=1e-3)
    # The output printed in the document is the output of the code.
    block = re.findall(r"Output[^\n]*\n\n```\n(.*?)```", DOC.read_text(), re.S)[0]
    doc_numbers = [float(x) for x in re.findall(r"\d+\.\d+", block)]
    run_numbers = [float(x) for x in re.findall(r"\d+\.\d+", printed)]
    np.testing.assert_allclose(run_numbers, doc_numbers, rtol=2e-3, atol=1e-4)


def test_ste_beats_projection_over_seeds():
    code = _doc_code().replace("np.random.default_rng(0)", "np.random.default_rng(SEED)")
    code = code.replace("W_plain = train(decay=0.0)", "W_plain = W_srste")
    ratios_proj, ratios_dense = [], []
    for seed in range(10):
        ns, _ = _run(f"SEED = {seed}\n" + code)
        ratios_proj.append(ns["L_srste"] / ns["L_proj"])
        ratios_dense.append(ns["L_srste"] / ns["L_dense"])
    assert max(ratios_proj) <= 0.8, ratios_proj      # docs: worst 0.78x the projection
    assert max(ratios_dense) <= 3.2, ratios_dense    # docs: worst 3.1x the dense optimum
