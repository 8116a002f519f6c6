"""The one gene-matching rule: case-insensitive names, identifier columns,
missing genes logged once, too small an overlap refused."""
import logging

import numpy as np
import pandas as pd
import pytest

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.preprocessing.genes import (choose_gene_column, columns_of,
                                                 gene_candidates, gene_mask,
                                                 gene_positions, measured_genes,
                                                 refuse_repeated_genes,
                                                 repeated_genes)


def test_positions_ignore_case_and_order(caplog):
    reference = ["Cd3e", "MS4A1", "Cd19", "Actb"]
    query = ["actb", "CD3E", "Gapdh", "ms4a1", "cd3e"]
    with caplog.at_level(logging.WARNING):
        positions = gene_positions(reference, query)
    # the first of duplicated query names wins; Cd19 is missing
    np.testing.assert_array_equal(positions, [1, 3, -1, 0])
    assert positions.dtype == np.int64
    records = [r for r in caplog.records if "missing" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert records[0].getMessage() == (
        "1 of the model's 4 genes are missing from the query and set to "
        "zero, e.g. Cd19")


def test_nothing_logged_when_every_gene_is_found(caplog):
    with caplog.at_level(logging.WARNING):
        positions = gene_positions(np.array(["A", "b"]), np.array(["B", "a"]))
    np.testing.assert_array_equal(positions, [1, 0])
    assert caplog.text == ""


def test_whose_genes_the_message_names(caplog):
    with caplog.at_level(logging.WARNING):
        gene_positions(["A", "B"], ["a"], what="the gene filter's")
    with pytest.raises(ACTINNInputError,
                       match="do not match the gene filter.s"):
        gene_positions(["A", "B"], ["x"], 0.5, "the gene filter's")
    assert "1 of the gene filter's 2 genes are missing" in caplog.text


def test_min_overlap_refuses_with_the_figures():
    reference = ["G%d" % i for i in range(10)]
    # 5 of 10 found: exactly the share asked for passes
    positions = gene_positions(reference, reference[:5], min_overlap=0.5)
    assert (positions >= 0).sum() == 5
    with pytest.raises(ACTINNInputError) as info:
        gene_positions(reference, reference[:4] + ["X1"], min_overlap=0.5)
    assert str(info.value) == (
        "the query's genes do not match the model's: 4 of the model's 10 "
        "genes found (40 %; at least 50 % needed). Among the model's genes "
        "the query lacks: G4, G5, G6, ... (6 in all). To annotate it anyway, "
        "set annotator.min_overlap=0.4")
    # measured_genes (actinn run's, before training) takes it as an argument
    with pytest.raises(ACTINNInputError) as info:
        measured_genes(reference, {"var_names": reference[:4] + ["X1"]})
    assert str(info.value).endswith(
        "(6 in all). To annotate it anyway, pass min_overlap=0.4")


def test_overlap_message_names_the_likely_cause():
    reference = ["G%d" % i for i in range(10)]
    # fewer genes in all than needed: a selection, such as variable genes
    with pytest.raises(ACTINNInputError) as info:
        gene_positions(reference, reference[:3], 0.5)
    assert str(info.value).endswith(
        "(30 %; at least 50 % needed). The query holds only 3 genes: give "
        "the counts of every gene the experiment measured, not a selection "
        "such as the highly variable genes. To annotate it anyway, set "
        "annotator.min_overlap=0.3")
    # names of another kind: examples of both sides' unmatched names, and
    # no advice to lower the bar
    reference = ["G%d" % i for i in range(100)]
    with pytest.raises(ACTINNInputError) as info:
        gene_positions(reference, ["G0"] + ["ENSG%d" % i for i in range(200)],
                       0.5)
    assert str(info.value).endswith(
        "(1 %; at least 50 % needed). The model's genes the query lacks "
        "look like G1, G2, G3, ... (99 in all); the query's genes not among "
        "the model's, like ENSG0, ENSG1, ENSG2, ... (200 in all), may "
        "include genes the model's reference measured but its gene filter "
        "left out. Names are compared ignoring case: check the species and "
        "the kind of gene identifier")
    # genes of no selection (a reference's own): foreign names, plainly
    with pytest.raises(ACTINNInputError) as info:
        measured_genes(
            reference,
            {"var_names": ["G0"] + ["ENSG%d" % i for i in range(19)]}, 0.5)
    assert str(info.value).endswith(
        "The reference's genes the query lacks look like G1, G2, G3, ... (99 "
        "in all); the query's genes not among the reference's look like "
        "ENSG0, ENSG1, ENSG2, ... (19 in all). Names are compared ignoring "
        "case: check the species and the kind of gene identifier")
    # a query without genes: no min_overlap (above 0) accepts it, so none
    # is offered
    with pytest.raises(ACTINNInputError) as info:
        gene_positions(reference, [], 0.5)
    assert str(info.value).endswith(
        "(0 %; at least 50 % needed). The query holds only 0 genes: give the "
        "counts of every gene the experiment measured, not a selection such "
        "as the highly variable genes")


def test_choose_gene_column_takes_the_best_match():
    model = ["CD3E", "MS4A1", "CD19"]
    candidates = {
        "var_names": ["ENSG1", "ENSG2", "ENSG3"],
        "var['symbol']": ["Cd3e", "Ms4a1", "Cd19"],
        "var['other']": ["CD3E", "x", "y"],
    }
    assert choose_gene_column(model, candidates) == ("var['symbol']", 3)
    with pytest.raises(ACTINNInputError) as info:
        choose_gene_column(model, {"var_names": ["ENSG1", "ENSG2", "CD19"]})
    assert "1 of the model's 3 genes found" in str(info.value)


def test_overlap_share_is_rounded_down_and_hints_fit_the_caller():
    reference = ["G%d" % i for i in range(1000)]
    with pytest.raises(ACTINNInputError,
                       match=r"499 of the model's 1000 "
                       r"genes found \(49.9 %; at least 50 % needed\)"):
        gene_positions(reference, reference[:499] + ["X"] * 600, 0.5)
    with pytest.raises(ACTINNInputError) as info:  # Python only: no flag
        gene_positions(reference, reference[:499] + ["X"] * 600, 0.5,
                       "the gene filter's")
    assert str(info.value).endswith(
        "To transform it anyway, lower the filter's min_overlap (0.5) to 0.4")
    # the value offered accepts the query, below any min_overlap given
    with pytest.raises(ACTINNInputError) as info:
        gene_positions(reference, reference[:149] + ["X"] * 100, 0.2)
    assert str(info.value).endswith("To annotate it anyway, set "
                                    "annotator.min_overlap=0.1")
    assert (gene_positions(reference, reference[:149] + ["X"] * 100, 0.1) >=
            0).sum() == 149


def test_gene_candidates_lists_string_columns_only():
    var = pd.DataFrame(
        {
            "gene_ids": ["ENSG1", "ENSG2"],
            "n_cells": [3, 4],
            "symbol": pd.Categorical(["Cd3e", "Cd19"]),
        },
        index=["CD3E", "CD19"])
    candidates = gene_candidates(var.index, var)
    assert candidates == {
        "var_names": ["CD3E", "CD19"],
        "var['gene_ids']": ["ENSG1", "ENSG2"],
        "var['symbol']": ["Cd3e", "Cd19"],
    }
    # a var of another length is ignored
    assert gene_candidates(["A"], var) == {"var_names": ["A"]}
    assert gene_candidates(["A", "B"]) == {"var_names": ["A", "B"]}


def test_genes_under_another_ensembl_version_are_matched(caplog):
    # the same genes in another annotation release, or without versions
    reference = ["ENSMUSG%011d.1" % i for i in range(10)]
    query = ["X"] + reference[:6] + [g[:-1] + "2" for g in reference[6:8]]
    query += [g[:-2] for g in reference[8:]]
    caplog.set_level("INFO")
    positions = gene_positions(reference, query)
    assert positions.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert ("4 of the model's genes matched under another Ensembl version, "
            "e.g. ENSMUSG00000000006.2 for ENSMUSG00000000006.1" in caplog.text)
    assert "missing" not in caplog.text
    # and the other way round, through every path of the one rule
    unversioned = [g[:-2] for g in reference]
    assert gene_positions(unversioned, reference,
                          0.9).tolist() == list(range(10))
    assert columns_of(reference, unversioned[::2]).tolist() == [0, 2, 4, 6, 8]
    assert choose_gene_column(unversioned, {
        "var_names": ["A"] * 10,
        "gene_ids": reference
    }) == ("gene_ids", 10)
    # a suffix that is not a version (GENCODE's PAR_Y copies) is a name
    assert gene_positions(["ENSG00000002586.20_PAR_Y"],
                          ["ENSG00000002586.20"]).tolist() == [-1]


def test_genes_renamed_by_r_are_pointed_out(caplog):
    # counts written through an R data frame: H2-K1 -> H2.K1, 1700... -> X1700...
    reference = ["H2-K1", "1700001C19Rik", "Cd3e", "Actb"]
    query = ["H2.K1", "X1700001C19Rik", "Cd3e", "Actb"]
    caplog.set_level("WARNING")
    assert gene_positions(reference, query).tolist() == [-1, -1, 2, 3]
    assert ("2 of the model's 4 genes are missing from the query and set to "
            "zero, e.g. H2-K1, 1700001C19Rik; 2 of them are in the query as R "
            "renamed it (e.g. H2.K1 for H2-K1): its names went through an R "
            "data frame (make.names)" in caplog.text)
    with pytest.raises(ACTINNInputError, match=r"as R renamed it \(e.g. H2.K1"):
        gene_positions(reference + ["Gapdh"],
                       ["H2.K1", "X1700001C19Rik", "Cd3e", "Q"], 0.6)


def test_the_version_written_wins_and_repeats_are_named_as_written(caplog):
    # a query holding two versions of one id: the model's own version is
    # taken; a repeat the names cannot decide is named as the query spells it
    query = ["ENSG00000000001.1", "ENSG00000000001.2", "Cd3e", "CD3E"]
    caplog.set_level("WARNING")
    assert gene_positions(["ENSG00000000001.2", "Cd3e"],
                          query).tolist() == [1, 2]
    assert ("1 of the model's genes are named more than once in the query, "
            "e.g. Cd3e/CD3E; the first column of each is used" in caplog.text)
    assert "ENSG00000000001" not in caplog.text
    # text files are oriented by the same rule
    from pathlib import Path

    from deepchem_actinn.io.orientation import choose_orientation
    assert choose_orientation(Path("q.csv"),
                              rows=["ENSG00000000001.3", "ENSG00000000002.1"],
                              columns=["c1", "c2"],
                              expected_genes=["ENSG00000000001.4"
                                             ]) == "genes_by_cells"


def test_gene_mask_marks_the_columns_prediction_reads(caplog):
    """The query's genes the model uses, as gene_positions matches them
    (the version written first, the first of a repeat), through the var
    column that holds the model's genes; nothing logged."""
    reference = ["ENSG00000000001.2", "Cd3e", "Cd19"]
    query = ["ENSG00000000001.1", "ENSG00000000001.2", "CD3E", "cd3e", "X"]
    caplog.set_level("INFO")
    mask = gene_mask(reference, query)
    assert mask.dtype == bool
    assert mask.tolist() == [False, True, True, False, False]
    positions = gene_positions(reference, query)
    assert np.flatnonzero(mask).tolist() == sorted(
        p for p in positions if p >= 0)
    caplog.clear()
    var = pd.DataFrame({"symbol": ["cd19", "Actb", "CD3E"]},
                       index=["ENSG9", "ENSG8", "ENSG7"])
    assert gene_mask(reference, var).tolist() == [True, False, True]
    assert gene_mask(reference, var.index).tolist() == [False, False, False]
    assert caplog.text == ""


#: Two versions of one Ensembl id: one gene by the matching rule.
VERSIONS = ["ENSMUSG00000000001.4", "ENSMUSG00000000001.5"]


def test_repeated_genes_are_keyed_as_genes_are_matched():
    assert repeated_genes(["Actb", "Cd3e", "ACTB",
                           "actb"]) == ["Actb/ACTB/actb"]
    assert repeated_genes(VERSIONS + ["Cd3e"]) == ["/".join(VERSIONS)]
    assert repeated_genes(["ENSG00000002586.20_PAR_Y", "ENSG00000002586.20"
                          ]) == []  # a PAR_Y id is not a version
    refuse_repeated_genes(["Actb", "ENSMUSG00000000001.4", "Cd3e"])
    with pytest.raises(ACTINNInputError) as err:
        refuse_repeated_genes(VERSIONS + ["Cd3e", "CD3E"])
    assert str(err.value) == (
        "2 genes are named more than once (names are compared ignoring case "
        "and an Ensembl version): ENSMUSG00000000001.4/ENSMUSG00000000001.5, "
        "Cd3e/CD3E; keep one of each (the version your queries use) or make "
        "them unique")
    with pytest.raises(ACTINNInputError,
                       match="^model/annotator.json is damaged: 2 genes "
                       "are named more than once .*; a model gene names one "
                       "column$"):
        refuse_repeated_genes(VERSIONS + ["Cd3e", "CD3E"],
                              damaged="model/annotator.json")
    # two versions alone: a model saved before versions were compared, not
    # a damaged one
    with pytest.raises(ACTINNInputError) as err:
        refuse_repeated_genes(VERSIONS, damaged="model/annotator.json")
    assert str(err.value) == (
        "model/annotator.json: trained on two Ensembl versions of 1 gene "
        "(ENSMUSG00000000001.4/ENSMUSG00000000001.5), which this version "
        "refuses: one query column would feed both; retrain it on a "
        "reference holding one version of each")


def test_two_versions_of_a_gene_never_feed_two_model_inputs():
    """A reference holding two versions of one Ensembl id would take one
    query column twice (positions [0, 0, ...]): every path refuses it."""
    from deepchem_actinn.annotator import ACTINNAnnotator
    from deepchem_actinn.preprocessing import GeneFilter
    genes = VERSIONS + ["Cd3e", "Actb"]
    assert gene_positions(genes, VERSIONS[:1] + ["Cd3e"]).tolist()[:2] == [0, 0]
    X = np.random.default_rng(0).poisson(2.0, size=(20, 4)).astype(float)
    for fit in (lambda: GeneFilter().fit(np.log1p(X), genes),
                lambda: GeneFilter().partial_fit(np.log1p(X), genes),
                lambda: ACTINNAnnotator(max_epochs=1, n_networks=1).fit(
                    X, genes, ["B", "T"] * 10)):
        with pytest.raises(ACTINNInputError,
                           match="1 gene is named more than once .*: "
                           "ENSMUSG00000000001.4/ENSMUSG00000000001.5;"):
            fit()
