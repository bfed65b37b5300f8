"""A model of attn_fwd_wg_pp's synchronisation (spla_cuda/kernels/attention_wg.cu),
run under random interleavings on the pair lists of real patterns: the producer
warpgroup (waits on a stage's `empty` mbarrier, issues the copies of a pair entry,
whose noinc arrival on `full` fires when they land), the two consumer warpgroups
(wait on `full`, ping-pong on named barriers 1 and 2, issue the S and P V products,
which read shared memory until they are waited on, release stages on `empty`), the
mbarriers' phases and parity waits and the named barriers' counts. Checked: no
deadlock; every product finds its entry's keys landed in the stage it reads, from
issue until its wait, and no copy overwrites a stage a product in flight reads; each
consumer visits its block's tiles once, in order; every named-barrier phase started
is completed and no phase completes without a waiter. The consumer and producer
below follow the kernel's code line by line; a change there should be made here.
No GPU needed."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spla import attention as at

from test_attention import patterns
from test_attention_block import random_csr


class Mbar:
    def __init__(self, count):
        self.count, self.pending, self.phase = count, count, 0

    def arrive(self, n=1):
        self.pending -= n
        assert self.pending >= 0, "more arrivals than the barrier's count in one phase"
        if self.pending == 0:
            self.phase += 1
            self.pending = self.count

    def ready(self, parity):
        # try_wait.parity: the phase of this parity is complete, i.e. the current
        # (incomplete) phase has the other parity
        return self.phase % 2 != parity


class Named:
    """bar.sync / bar.arrive with 256 threads: each warpgroup adds 128."""

    def __init__(self):
        self.count, self.gen, self.syncers = 0, 0, 0

    def add(self, sync):
        self.count += 128
        self.syncers += sync
        if self.count == 256:
            assert self.syncers > 0, "a named-barrier phase completed with no warpgroup waiting"
            self.count, self.syncers = 0, 0
            self.gen += 1


class Bug:
    """Faults the model can be given, to show that its checks fail on them."""
    NONE, EARLY_RELEASE, NO_SKIP_ARRIVE, SHALLOW_PARITY = range(4)


def simulate(ent, ST, rng, bug=Bug.NONE):
    """Run one pair's entries ``ent`` ((ne, 2) tile indices, -1: none) through the
    model under a random interleaving; returns each consumer's visited tiles."""
    ne = len(ent)
    full = [Mbar(1) for _ in range(ST)]       # the producer's 128 noinc arrivals as one
    empty = [Mbar(8) for _ in range(ST)]      # one lane per consumer warp
    bars = {1: Named(), 2: Named()}
    content = [None] * ST                     # entry whose copies have landed, or None
    writing = [None] * ST                     # entry whose copies are in flight
    reads = [[] for _ in range(ST)]           # (consumer, entry) of products in flight
    landing = []                              # copies in flight, in issue order
    visited = {0: [], 1: []}

    def wait_mbar(bar, parity):
        return lambda: bar.ready(parity)

    def named_sync(i):
        b = bars[i]
        gen = b.gen
        b.add(True)
        return lambda: b.gen != gen

    def read(c, s, e):
        assert writing[s] is None and content[s] == e, (
            f"consumer {c} reads stage {s} for entry {e}: it holds {content[s]}, copies of "
            f"{writing[s]} in flight")
        reads[s].append((c, e))

    def done(c, s, e):
        assert writing[s] is None and content[s] == e, f"stage {s} overwritten under consumer {c}"
        reads[s].remove((c, e))

    def producer():
        for e in range(ne):
            s = e % ST
            par = ((e // ST) & 1) ^ 1
            if bug == Bug.SHALLOW_PARITY:
                par = 1                         # never waits: overruns the ring
            yield wait_mbar(empty[s], par)
            assert not reads[s], f"entry {e}'s copies overwrite stage {s} under products {reads[s]}"
            assert writing[s] is None
            writing[s] = e
            content[s] = None
            landing.append(s)

    def consumer(c):
        own_bar, other_bar = 1 + c, 2 - c
        pending, pe = False, 0

        def release(s):
            empty[s].arrive(4)

        def pass_(i):
            if c == 0 or i + 1 < ne or bug == Bug.NO_SKIP_ARRIVE:
                bars[other_bar].add(False)

        if c == 1 and ne > 0:
            bars[1].add(False)
        for i in range(ne):
            s = i % ST
            it = int(ent[i][c])
            yield wait_mbar(full[s], (i // ST) & 1)
            if it >= 0:
                yield named_sync(own_bar)
                read(c, s, i)                   # S = Q K_i issued
                if pending:
                    read(c, pe % ST, pe)        # O += P V_pe issued
                    if bug == Bug.EARLY_RELEASE:
                        release(pe % ST)
                pass_(i)
                yield None
                done(c, s, i)                   # wait<1>: S complete
                visited[c].append(it)
                yield None
                if pending:
                    done(c, pe % ST, pe)        # wait<0>: P V complete
                    if bug != Bug.EARLY_RELEASE:
                        release(pe % ST)
                pending, pe = True, i
            elif pending:
                yield named_sync(own_bar)
                read(c, pe % ST, pe)
                pass_(i)
                yield None
                done(c, pe % ST, pe)
                release(pe % ST)
                release(s)
                pending = False
            else:
                yield named_sync(own_bar)
                pass_(i)
                release(s)
        if pending:
            read(c, pe % ST, pe)
            yield None
            done(c, pe % ST, pe)

    agents = {"p": producer(), 0: consumer(0), 1: consumer(1)}
    blocked = {k: None for k in agents}
    live = set(agents)
    while live or landing:
        runnable = [k for k in live if blocked[k] is None or blocked[k]()]
        choices = runnable + (["land"] if landing else [])
        assert choices, (f"deadlock: {sorted(map(str, live))} blocked; full phases "
                         f"{[b.phase for b in full]}, empty {[b.phase for b in empty]}")
        k = rng.choice(choices)
        if k == "land":
            s = landing.pop(0)                  # a thread's noinc arrival waits for all its copies
            content[s], writing[s] = writing[s], None
            full[s].arrive()
            continue
        try:
            blocked[k] = next(agents[k])
        except StopIteration:
            live.discard(k)
    for b in bars.values():
        assert b.count == 0, "a named-barrier phase was left incomplete"
    return visited


def check_pattern(P, stages=(2, 5, 8), seeds=3):
    bp = at.block_pattern(P)
    pair_ptr, pair_tiles, _ = bp.pair_tiles()
    nqb = bp.tile_ptr.size - 1
    for p in range(pair_ptr.size - 1):
        ent = pair_tiles[pair_ptr[p]:pair_ptr[p + 1]]
        for ST in stages:
            for seed in range(seeds):
                visited = simulate(ent, ST, random.Random(seed * 1000 + p))
                for c in (0, 1):
                    b = 2 * p + c
                    want = list(range(bp.tile_ptr[b], bp.tile_ptr[b + 1])) if b < nqb else []
                    assert visited[c] == want


@settings(deadline=None, max_examples=40)
@given(pm=patterns(max_n=300))
def test_protocol_on_patterns(pm):
    check_pattern(pm[0])


@settings(deadline=None, max_examples=30)
@given(pm=random_csr(max_n=200))
def test_protocol_on_any_csr(pm):
    check_pattern(pm[0])


@pytest.mark.parametrize("n,w", [(2000, 1024), (1000, 256), (129, 100), (7, 4)])
def test_protocol_local(n, w):
    check_pattern(at.local_pattern(n, w), seeds=5)


@pytest.mark.parametrize("bug", [Bug.EARLY_RELEASE, Bug.NO_SKIP_ARRIVE, Bug.SHALLOW_PARITY])
def test_model_catches_faults(bug):
    """The checks fail on a protocol fault: V released before its product completes,
    consumer 1 arriving after its last entry, the producer not waiting for a free
    stage."""
    bp = at.block_pattern(at.local_pattern(2000, 1024))
    pair_ptr, pair_tiles, _ = bp.pair_tiles()
    ent = pair_tiles[pair_ptr[3]:pair_ptr[4]]
    failed = 0
    for seed in range(20):
        try:
            simulate(ent, 5, random.Random(seed), bug)
        except AssertionError:
            failed += 1
    assert failed > 0
