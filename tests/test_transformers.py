"""The dc.trans wrappers: DeepChem's constructor conventions, and the same
preprocessing (and gene matching) as the annotator."""
import logging
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import deepchem_actinn
from deepchem_actinn import ACTINNAnnotator, library_size_log
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.preprocessing import GeneFilter, take_columns

try:  # the DeepChem integration; where it cannot be imported, the tests
    # marked requires_deepchem are skipped (conftest.py)
    import deepchem as dc

    from deepchem_actinn import (GeneFilterTransformer,
                                 LibrarySizeLogTransformer)
except ImportError:
    pass

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(3)
    X = rng.poisson(rng.gamma(1.0, 2.0, size=60), size=(200, 60))
    X[:, 7] = 0  # never expressed: dropped by the filter
    X[:, 0] += 1  # every cell has counts
    genes = np.array(["Gene%d" % i for i in range(60)], dtype=object)
    genes[:3] = ["Cd3e", "Ms4a1", "Cd19"]
    labels = np.where(np.arange(200) % 2, "T cell", "B cell")
    return X.astype(np.float32), genes, labels


@pytest.mark.requires_deepchem
def test_library_size_log_transformer_takes_deepchem_flags(counts):
    X = counts[0]
    expected = library_size_log(X)
    ds = dc.data.NumpyDataset(X)
    for t in (LibrarySizeLogTransformer(), LibrarySizeLogTransformer(True),
              LibrarySizeLogTransformer(transform_X=True),
              LibrarySizeLogTransformer(transform_X=True, dataset=ds)):
        assert t.transform_X and not (t.transform_y or t.transform_w or
                                      t.transform_ids)
        np.testing.assert_array_equal(t.transform(ds).X, expected)
    t = LibrarySizeLogTransformer(transform_X=True, target_sum=4, base=np.e)
    np.testing.assert_allclose(t.transform(ds).X,
                               library_size_log(X, 4, np.e),
                               rtol=1e-6)


@pytest.mark.requires_deepchem
def test_library_size_log_transformer_refuses_log_values(counts):
    """Its own output (a second transform) and log1p values are refused,
    naming a cell; TPM-like counts on another scale pass."""
    X = counts[0]
    ds = dc.data.NumpyDataset(X, ids=["c%d" % i for i in range(len(X))])
    t = LibrarySizeLogTransformer()
    once = t.transform(ds)
    for logged in (once, dc.data.NumpyDataset(np.log1p(X), ids=ds.ids)):
        with pytest.raises(ACTINNInputError,
                           match="LibrarySizeLogTransformer: X holds "
                           "non-integer values .*in cell c.*looks "
                           "log-normalised; normalised already\\? Apply the "
                           "transformer once, to the counts"):
            t.transform(logged)
    tpm = X / X.sum(axis=1, keepdims=True) * 1e6
    np.testing.assert_allclose(t.transform(dc.data.NumpyDataset(tpm)).X,
                               once.X,
                               rtol=1e-5)


@pytest.mark.requires_deepchem
@pytest.mark.parametrize("name",
                         ["LibrarySizeLogTransformer", "GeneFilterTransformer"])
def test_flags_without_meaning_are_refused(name):
    cls = getattr(deepchem_actinn, name)
    for flag in ("transform_y", "transform_w", "transform_ids"):
        with pytest.raises(ValueError) as info:
            cls(**{flag: True})
        message = str(info.value)
        assert message.startswith(name)
        assert "%s=True has no meaning" % flag in message
        assert "leave transform_y, transform_w and transform_ids False" in \
            message
    with pytest.raises(ValueError,
                       match="transform_y=True and "
                       "transform_w=True have no meaning"):
        cls(transform_y=True, transform_w=True)
    with pytest.raises(ValueError,
                       match="transform_X=False would leave "
                       "nothing to transform"):
        cls(transform_X=False)


@pytest.mark.requires_deepchem
def test_gene_filter_transformer_flags_and_a_fitted_filter(counts):
    X, genes, _ = counts
    Xn = library_size_log(X)
    fitted = GeneFilter().fit(Xn, genes)
    by_dataset = GeneFilterTransformer(transform_X=True,
                                       dataset=dc.data.NumpyDataset(Xn),
                                       genes=genes)
    wrapped = GeneFilterTransformer(gene_filter=fitted)
    assert wrapped.gene_filter is fitted
    for t in (by_dataset, wrapped):
        assert t.transform_X and not t.transform_y
        np.testing.assert_array_equal(t.mask, fitted.get_support())
        np.testing.assert_array_equal(t.kept_genes, fitted.genes_)
        np.testing.assert_array_equal(t.genes, genes)
        out = t.transform(dc.data.NumpyDataset(Xn))
        np.testing.assert_array_equal(out.X, Xn[:, fitted.support_])
    with pytest.raises(ValueError, match="fitted with gene names"):
        GeneFilterTransformer(gene_filter=GeneFilter())
    with pytest.raises(ValueError, match="fitted with gene names"):
        GeneFilterTransformer(gene_filter=GeneFilter().fit(Xn))


@pytest.mark.requires_deepchem
def test_gene_filter_transformer_pickles(counts, tmp_path):
    X, genes, _ = counts
    Xn = library_size_log(X)
    t = GeneFilterTransformer(dataset=Xn, genes=genes)
    back = pickle.loads(pickle.dumps(t))
    query = [g.upper() for g in genes[::-1]]
    np.testing.assert_array_equal(back.align(Xn[:, ::-1], query),
                                  t.align(Xn[:, ::-1], query))


@pytest.mark.requires_deepchem
def test_lower_and_upper_case_align_alike_in_transformer_and_annotator(
        counts, caplog):
    """Cd3e in the reference matches CD3E in the query, in both paths."""
    X, genes, labels = counts
    annotator = ACTINNAnnotator(max_epochs=1,
                                n_networks=1,
                                early_stopping=False).fit(X, genes, labels)
    transformer = GeneFilterTransformer(dataset=library_size_log(X),
                                        genes=genes,
                                        total_percentiles=(0, 100),
                                        cv_percentiles=(0, 100))
    np.testing.assert_array_equal(transformer.kept_genes, annotator.genes_)
    assert "Cd3e" in annotator.genes_
    rng = np.random.default_rng(0)
    order = rng.permutation(60)
    order = order[order != 2]  # Cd19 missing from the query
    query_genes = [genes[i].upper() for i in order]
    assert "CD3E" in query_genes and "Cd3e" not in query_genes
    query = library_size_log(X[:20][:, order])
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")  # logged, never a Python warning
        positions = annotator.gene_positions(query_genes)
        filter_positions = transformer.gene_filter.gene_positions(query_genes)
        aligned = transformer.align(query, query_genes)
        dataset = transformer.transform(dc.data.NumpyDataset(query),
                                        genes=query_genes)
    np.testing.assert_array_equal(positions, filter_positions)
    assert positions[list(annotator.genes_).index("Cd3e")] == \
        query_genes.index("CD3E")
    assert positions[list(annotator.genes_).index("Cd19")] == -1
    expected = take_columns(query, positions)
    np.testing.assert_array_equal(aligned, expected)
    np.testing.assert_array_equal(dataset.X, expected)
    # one line per call above, each counting the one missing gene
    assert caplog.text.count("1 of the") == 4
    assert caplog.text.count("missing from the query") == 4
    sparse = transformer.align(sp.csr_matrix(query), query_genes)
    np.testing.assert_array_equal(sparse.toarray(), expected)


@pytest.mark.requires_deepchem
def test_too_few_shared_genes_refused_alike(counts):
    X, genes, _ = counts
    t = GeneFilterTransformer(dataset=library_size_log(X), genes=genes)
    other = ["ENSMUSG%08d" % i for i in range(60)]
    with pytest.raises(ACTINNInputError, match="do not match"):
        t.transform(dc.data.NumpyDataset(library_size_log(X)), genes=other)


def test_without_deepchem_preprocessing_works_and_transformers_explain():
    code = "\n".join([
        "import sys",
        "class Block:",
        "    def find_spec(self, name, path=None, target=None):",
        "        if name.split('.')[0] == 'deepchem':",
        "            raise ImportError('No module named deepchem')",
        "sys.meta_path.insert(0, Block())",
        "import numpy as np",
        "from deepchem_actinn.preprocessing import GeneFilter",
        "X = np.arange(12.).reshape(4, 3)",
        "print('kept', GeneFilter((0, 100), (0, 100)).fit(X).support_.sum())",
        "try:",
        "    import deepchem_actinn.transformers.gene_filter",
        "except ImportError as err:",
        "    print(err)",
    ])
    result = subprocess.run([sys.executable, "-c", code],
                            cwd=ROOT,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "kept 3"
    assert lines[1].startswith("GeneFilterTransformer needs DeepChem")
    assert "pip install" in lines[1] and len(lines) == 2
