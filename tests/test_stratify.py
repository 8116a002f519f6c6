"""The two stratified rules of ``deepchem_actinn.stratify``: the
annotator's hold-out (``stratified_indices``), pinned to the indices it has
always given, and ``apportioned_indices``, whose parts follow the requested
fractions while each class is still divided as evenly as it can be."""
import numpy as np
import pytest

from deepchem_actinn.annotator.fitting import reference_sample, split_indices
from deepchem_actinn.stratify import apportioned_indices, stratified_indices

#: (labels, fractions, seed) and the parts ``stratified_indices`` gave
#: before apportioned_indices existed: every published benchmark's held-out
#: cells rest on them.
PINNED = [
    (([0, 0, 0, 1, 1, 1, 2], [0.9, 0.1], 0), [[0, 2, 4, 5, 6], [1, 3]]),
    ((np.repeat([0, 1, 2], [7, 3, 1]), [0.75,
                                        0.25], 1), [[0, 1, 2, 4, 5, 8, 9, 10],
                                                    [3, 6, 7]]),
    (([2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 2, 2], [0.5,
                                             0.3, 0.2], 3), [[0, 2, 7, 9, 11],
                                                             [3, 4, 6, 8],
                                                             [1, 5, 10]]),
    ((list("bbaacbbabc"), [0.8, 0.1, 0.1], 0), [[4, 5, 6, 7, 8], [1, 2, 9],
                                                [0, 3]]),
]


@pytest.mark.parametrize("args, parts", PINNED)
def test_the_annotators_rule_gives_the_indices_it_always_gave(args, parts):
    assert [p.tolist() for p in stratified_indices(*args)] == parts


def test_the_annotators_hold_out_and_reference_sample_are_unchanged():
    y = np.repeat([0, 1, 2, 3], [9, 5, 2, 1])
    assert [p.tolist() for p in split_indices(y, 0.1, 20000, 0)
           ] == [[0, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16], [1, 10, 14]]
    # the cap on held-out cells (4 of 17) lowers the fraction
    assert [p.tolist() for p in split_indices(y, 0.3, 4, 7)
           ] == [[0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 15, 16], [4, 5, 9, 14]]
    assert reference_sample(y, np.arange(17), 5,
                            size=6).tolist() == [1, 2, 4, 9, 13, 15]


def _class_counts(y, parts):
    classes, inverse = np.unique(y, return_inverse=True)
    return np.array(
        [np.bincount(inverse[p], minlength=len(classes)) for p in parts]).T


@pytest.mark.parametrize("n_types, per_type, sizes", [(20, 5, [80, 10, 10]),
                                                      (30, 3, [72, 9, 9]),
                                                      (10, 15, [120, 15, 15])])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parts_follow_the_fractions_when_classes_are_small(
        n_types, per_type, sizes, seed):
    y = np.repeat(np.arange(n_types), per_type)
    parts = apportioned_indices(y, [0.8, 0.1, 0.1], seed)
    assert [len(p) for p in parts] == sizes
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(y)))
    exact = per_type * np.array([0.8, 0.1, 0.1])
    counts = _class_counts(y, parts)
    assert (counts >= np.floor(exact + 1e-9)).all()
    assert (counts <= np.ceil(exact - 1e-9)).all()


def test_random_labels_keep_sizes_and_classes_within_one():
    rng = np.random.default_rng(0)
    for _ in range(300):
        fractions = rng.dirichlet(np.ones(int(rng.integers(2, 6))))
        sizes = rng.integers(1, 12, int(rng.integers(1, 12)))
        y = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
        parts = apportioned_indices(y, fractions, int(rng.integers(100)))
        assert sorted(np.concatenate(parts).tolist()) == list(range(len(y)))
        assert np.all(np.abs([len(p) for p in parts] - fractions * len(y)) < 1)
        exact = np.outer(sizes, fractions)
        counts = _class_counts(y, parts)
        assert np.all((counts >= np.floor(exact)) & (counts <= np.ceil(exact)))


def test_ties_are_broken_by_the_seed():
    # 2.5 and 2.5 cells: which part gets 3 depends on the seed alone
    valid_sizes = {
        len(apportioned_indices(np.zeros(25), [0.8, 0.1, 0.1], seed)[1])
        for seed in range(20)
    }
    assert valid_sizes == {2, 3}
    a = apportioned_indices(np.arange(30) % 4, [0.5, 0.5], seed=5)
    b = apportioned_indices(np.arange(30) % 4, [0.5, 0.5], seed=5)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_other_labels_and_edge_cases():
    # a class of one cell is in one part; strings sort as labels; no cells
    parts = apportioned_indices(["b", "a", "a", "a", "a"], [0.8, 0.2], 0)
    assert [len(p) for p in parts] == [4, 1]
    assert [len(p) for p in apportioned_indices([], [0.5, 0.5])] == [0, 0]
    assert [len(p) for p in apportioned_indices([0] * 10, [1.0, 0.0])
           ] == [10, 0]
    with pytest.raises(ValueError, match="sum to 1"):
        apportioned_indices([0, 1], [0.5, 0.6])


# --- the rules as they were written first, class by class: the reference
# the vectorised ones must match index for index

from deepchem_actinn import stratify  # noqa: E402


def _reference_parts(classes, n_parts, rng, counts_of):
    parts = [[] for _ in range(n_parts)]
    for index, cls in enumerate(classes):
        members = rng.permutation(cls)
        counts = counts_of(index, len(members))
        for part, chunk in enumerate(np.split(members, np.cumsum(counts)[:-1])):
            parts[part].append(chunk)
    return [
        np.sort(np.concatenate(p)).astype(np.int64)
        if p else np.zeros(0, dtype=np.int64) for p in parts
    ]


def _reference_stratified(y, fractions, seed=None):
    y = np.asarray(y).ravel()
    frac = stratify._fractions(fractions)
    rng = np.random.default_rng(seed)
    classes = [np.flatnonzero(y == cls) for cls in np.unique(y)]
    return _reference_parts(classes, len(frac), rng,
                            lambda _, size: stratify._allocate(size, frac))


def _reference_apportioned(y, fractions, seed=None):
    y = np.asarray(y).ravel()
    frac = stratify._fractions(fractions)
    rng = np.random.default_rng(seed)
    inverse = np.unique(y, return_inverse=True)[1].ravel()
    sizes = np.bincount(inverse)
    exact = stratify._snapped(np.outer(sizes, frac))
    floor = np.floor(exact).astype(np.int64)
    remainder = exact - floor
    totals = stratify._largest_remainder(stratify._snapped(frac * len(y)),
                                         len(y), rng)
    up = np.zeros(exact.shape, dtype=bool)
    for cls, row in enumerate(exact):
        up[cls] = stratify._largest_remainder(row, sizes[cls], rng) > floor[cls]
    need = totals - floor.sum(axis=0) - up.sum(axis=0)
    priority = rng.random(len(sizes))
    stratify._direct_moves(up, remainder, need, priority)
    while (need < 0).any():
        chain = stratify._move(up, remainder, need, priority)
        if chain is None:
            break
        for cls, source, target in chain:
            up[cls, source], up[cls, target] = False, True
        need[chain[0][1]] += 1
        need[chain[-1][2]] -= 1
    counts = floor + up
    classes = [np.flatnonzero(inverse == cls) for cls in range(len(sizes))]
    return _reference_parts(classes, len(frac), rng, lambda cls, _: counts[cls])


def _random_case(rng):
    """Labels of a random kind (few classes, many, continuous values,
    strings), fractions (some 0, some summing to 1 only within isclose)
    and a seed."""
    n = int(rng.integers(0, 400))
    kind = int(rng.integers(0, 5))
    if kind == 0:
        y = rng.integers(0, int(rng.integers(1, 8)), n)
    elif kind == 1:
        y = rng.integers(0, max(n, 1), n)  # many classes of 1 or 2 cells
    elif kind == 2:
        y = rng.random(n)  # continuous: every value its own class
    elif kind == 3:
        y = np.array(["t%d" % k for k in rng.integers(0, 30, n)])
    else:
        y = np.repeat(np.arange(n // 7 + 1), 7)[:n]
    frac = rng.random(int(rng.integers(1, 6)))
    if rng.random() < 0.3:
        frac[rng.integers(0, len(frac))] = 0
    frac = frac / frac.sum() if frac.sum() else np.eye(len(frac))[0]
    if rng.random() < 0.2:
        frac = frac * (1 + 5e-6)  # isclose to 1
    return y, frac, int(rng.integers(0, 1000))


def test_the_vectorised_rules_give_the_indices_the_loops_gave():
    rng = np.random.default_rng(2024)
    for _ in range(400):
        y, frac, seed = _random_case(rng)
        for new, old in ((apportioned_indices, _reference_apportioned),
                         (stratified_indices, _reference_stratified)):
            got = new(y, frac, seed)
            want = old(y, frac, seed)
            assert [p.dtype for p in got] == [np.int64] * len(frac)
            assert [p.tolist() for p in got] == [p.tolist() for p in want
                                                ], (new.__name__, y, frac, seed)


def test_continuous_labels_split_as_classes_of_one():
    """Continuous y (each value its own class, as DeepChem's
    SingletaskStratifiedSplitter takes) is split as classes of one cell:
    every cell in one part; the hold-out's rule keeps each in the first,
    the splitter's apportions them by the fractions."""
    y = np.random.default_rng(0).random(20_000)
    for rule in (apportioned_indices, stratified_indices):
        parts = rule(y, [0.8, 0.1, 0.1], seed=0)
        assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(y)))
    assert [len(p) for p in parts] == [20_000, 0, 0]
    assert [len(p) for p in apportioned_indices(y, [0.8, 0.1, 0.1], seed=0)
           ] == [16_000, 2_000, 2_000]
