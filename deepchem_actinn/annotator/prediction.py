"""The prediction half of :class:`~deepchem_actinn.ACTINNAnnotator`.

:class:`AnnotatorPrediction` holds the methods that name a query's cells
once an annotator is fitted or loaded: :meth:`~AnnotatorPrediction.predict`
for a matrix in memory, :meth:`~AnnotatorPrediction.iter_predict` for one
that arrives in chunks and :meth:`~AnnotatorPrediction.predict_file` for a
file streamed from disk, with the steps they share (gene matching, the
scorer, the averaged probabilities, ambient RNA), and
:meth:`~AnnotatorPrediction.to_dataset`, the networks' input as a DeepChem
dataset. ``ACTINNAnnotator``
inherits them; fitting, the hyperparameters and saving stay in
:mod:`~deepchem_actinn.annotator.annotator`. The methods read only the
fitted state declared below, which ``fit``, ``fit_file`` and ``load`` set.
"""
import logging
import os
from typing import (Any, Dict, Iterable, Iterator, List, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import scipy.sparse as sp

from deepchem_actinn import confidence as conf
from deepchem_actinn.annotator import labelling
from deepchem_actinn.annotator.inspection import AnnotatorInspection
from deepchem_actinn.annotator.annotation import Annotation, as_matrix
from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError, Advice
from deepchem_actinn.io.counts import refuse_log_normalised
from deepchem_actinn.io.labels import as_cell_ids, label_names
from deepchem_actinn.io.prefetch import prefetch
from deepchem_actinn.models.inference import EnsembleScorer, model_gene_log
from deepchem_actinn.models.linear import LinearMember, averaged_probabilities
from deepchem_actinn.models.network import ACTINNEnsemble
from deepchem_actinn.preprocessing import ambient
from deepchem_actinn.preprocessing.genes import gene_mask, gene_positions
from deepchem_actinn.types import Matrix
from deepchem_actinn.voting import MIN_VOTE_PROBABILITY

logger = logging.getLogger(__name__)

#: The way to subtract ambient RNA that the warning of a query holding much
#: of it names: ``remove_ambient=True`` (Python), ``--remove-ambient``.
REMOVE_AMBIENT = Advice(dict(remove_ambient=True), verb="")


class AnnotatorPrediction(AnnotatorInspection):
    """Prediction methods over a fitted annotator's state (inherited by
    :class:`~deepchem_actinn.ACTINNAnnotator`; see its Examples)."""
    # Set by __init__:
    target_sum: float
    log_base: float
    min_overlap: float
    linear_weight: float
    seed: int
    # Set by fit, fit_file and load:
    genes_: List[str]
    ensemble_: ACTINNEnsemble
    temperature_: float
    #: None until fit or load sets it (a class default, so that an unfitted
    #: annotator has no fitted attribute for scikit-learn's check_is_fitted).
    linear_: Optional[LinearMember] = None
    #: Each type's mean share of each model gene's counts in the reference
    #: (types x genes), set by fit; None in annotators saved before it
    #: existed.
    type_profiles_: Optional[np.ndarray] = None

    # -------------------------------------------------------------- predict
    @staticmethod
    def _query(
        X: Any, genes: Sequence[str], cell_ids: Optional[Sequence[str]]
    ) -> Tuple[Matrix, Optional[List[str]]]:
        """A query matrix in memory, checked before anything is matched:
        cells x genes, as many gene names as columns, ids one per cell, not
        log-normalised."""
        X = as_matrix(X)
        if cell_ids is not None:
            cell_ids = list(as_cell_ids(cell_ids, X.shape[0]))
        if X.shape[1] != len(genes):
            raise ACTINNInputError(
                "the query matrix has %d genes, its gene names %d" %
                (X.shape[1], len(genes)))
        refuse_log_normalised(X, cell_ids, source="the query")
        return X, cell_ids

    def scorer(self, positions: np.ndarray,
               n_query_genes: int) -> EnsembleScorer:
        """The scorer for a query whose genes sit at ``positions`` (see
        :meth:`gene_positions`): raw counts in, features and logits out."""
        self._check_fitted()
        self._check_linear()
        return EnsembleScorer(self.ensemble_,
                              positions,
                              n_query_genes,
                              self.target_sum,
                              self.log_base,
                              linear=self.linear_)

    def _check_linear(self) -> None:
        """Refuse a ``linear_weight`` set after fitting: no regression was
        fitted for it."""
        if self.linear_weight > 0 and self.linear_ is None:
            raise ValueError(
                "linear_weight is %g but this annotator was fitted without a "
                "linear member: fit again with linear_weight set" %
                self.linear_weight)

    def probabilities(self, logits: np.ndarray,
                      linear_logits: Optional[np.ndarray]) -> np.ndarray:
        """Each cell's type probabilities from the networks' ``logits``
        (calibrated by the fitted temperature) and, with ``linear_weight``,
        the linear member's (:meth:`EnsembleScorer.score`)."""
        proba = conf.calibrated_probabilities(logits, self.temperature_)
        if linear_logits is None or self.linear_ is None or \
                self.linear_weight == 0:
            return proba
        return averaged_probabilities(proba, linear_logits, self.linear_weight,
                                      self.linear_.known)

    def preprocess(self,
                   X: Matrix,
                   genes: Sequence[str],
                   cell_ids: Optional[Sequence[str]] = None) -> Matrix:
        """Raw query counts -> the networks' input: the model's genes in
        order, each cell scaled by its counts in those genes
        (:func:`~deepchem_actinn.models.inference.model_gene_log`)."""
        return model_gene_log(X, self.gene_positions(genes), self.target_sum,
                              self.log_base, cell_ids)

    def to_dataset(self,
                   X: Matrix,
                   genes: Sequence[str],
                   labels: Optional[Sequence[str]] = None,
                   cell_ids: Optional[Sequence[str]] = None) -> Any:
        """Raw counts as a DeepChem dataset of the networks' input, for
        :attr:`models_` and ``dc.metrics``.

        The input is the annotator's own: each cell normalised over its
        counts in the model's genes. The ``dc.trans`` transformers
        (``LibrarySizeLogTransformer`` then ``GeneFilterTransformer``)
        normalise over all of a cell's genes, as the original ACTINN, so
        they do not give it.

        Parameters
        ----------
        X: np.ndarray or scipy.sparse matrix
            Raw counts, cells x ``genes`` (any gene order).
        genes: sequence of str
            The genes of ``X``'s columns, matched to the model's as
            :meth:`predict` matches them.
        labels: sequence of str, optional
            Each cell's type, encoded with the annotator's class ids
            (every one must be a reference type).
        cell_ids: sequence of str, optional
            The dataset's ids.

        Returns
        -------
        dc.data.NumpyDataset
            Dense float32 X (cells x the model's genes, as :meth:`preprocess`
            gives them), y (class ids, one column) when ``labels`` are given.

        Examples
        --------
        >>> import deepchem as dc
        >>> from deepchem_actinn import ACTINNAnnotator
        >>> from deepchem_actinn.datasets import load_tabula_muris_sample
        >>> train, test = load_tabula_muris_sample()
        >>> annotator = ACTINNAnnotator(n_networks=1, max_epochs=2,
        ...                             linear_weight=0).fit(
        ...     train.X, train.var_names, train.obs["cell_type"])
        >>> data = annotator.to_dataset(test.X, test.var_names,
        ...                             test.obs["cell_type"], test.obs_names)
        >>> data.X.shape == (test.n_obs, len(annotator.genes_))
        True
        >>> scores = annotator.models_[0].evaluate(
        ...     data, [dc.metrics.Metric(dc.metrics.accuracy_score)])
        >>> list(scores)
        ['accuracy_score']
        """
        from deepchem_actinn._deepchem import require_deepchem
        dc = require_deepchem("ACTINNAnnotator.to_dataset")
        X, cell_ids = self._query(X, genes, cell_ids)
        inputs = self.preprocess(X, genes, cell_ids)
        inputs = sp.csr_matrix(inputs).toarray() if sp.issparse(
            inputs) else np.asarray(inputs)
        y = None if labels is None else self.labels_.encode(
            label_names(labels, cell_ids)).reshape(-1, 1)
        return dc.data.NumpyDataset(np.asarray(inputs, np.float32),
                                    y,
                                    ids=cell_ids)

    def gene_positions(self, genes: Sequence[str]) -> np.ndarray:
        """Index of each model gene in ``genes`` (-1 where missing).

        See :func:`deepchem_actinn.preprocessing.genes.gene_positions`:
        case-insensitive; refuses a query with fewer than ``min_overlap`` of
        the model's genes.
        """
        self._check_fitted()
        return gene_positions(self.genes_, genes, self.min_overlap)

    def gene_mask(self, genes: Any) -> np.ndarray:
        """Which of the query's genes the model uses (True for each), its
        genes matched as prediction matches them: see
        :func:`deepchem_actinn.preprocessing.gene_mask`. ``genes``: the
        query's gene names, or an AnnData's ``var`` (its identifier columns
        too). The cells with counts in them:
        ``adata[np.ravel(adata[:, annotator.gene_mask(adata.var)].X.sum(axis=1)) > 0]``.
        """
        self._check_fitted()
        return gene_mask(self.genes_, genes)

    def predict(self,
                X: Matrix,
                genes: Sequence[str],
                cell_ids: Optional[Sequence[str]] = None,
                unassigned: bool = False,
                threshold: Optional[float] = None,
                gene_column: str = "var_names",
                majority_voting: bool = False,
                over_clustering: Optional[Sequence] = None,
                hierarchy: Any = None,
                vote_min_probability: float = MIN_VOTE_PROBABILITY,
                remove_ambient: bool = False) -> Annotation:
        """Annotate raw counts of a query (cells x genes, any gene order).

        Parameters
        ----------
        X: np.ndarray or scipy.sparse matrix
            Raw counts, cells x genes.
        genes: sequence of str
            The query's gene names.
        cell_ids: sequence of str, optional
            Cell ids (default ``"0"``, ``"1"``, ...).
        unassigned: bool, default False
            Mark cells ``Unassigned`` by the novelty rule
            (:class:`~deepchem_actinn.confidence.RejectionRule`, calibrated
            against the query: :mod:`~deepchem_actinn.annotator.labelling`).
        threshold: float, optional
            Mark cells ``Unassigned`` below this confidence instead (with a
            hierarchy: the probability of the label given).
        gene_column: str, default "var_names"
            Recorded in the result: which query identifiers ``genes`` are.
        majority_voting: bool, default False
            Also vote each cluster's majority label
            (:func:`deepchem_actinn.voting.majority_vote`): fills
            ``majority_cell_types``, ``clusters``, ``cluster_table``.
        over_clustering: array, optional
            Each cell's cluster, for ``majority_voting`` (refused without
            it); default: Leiden clusters of the query
            (:func:`deepchem_actinn.voting.over_cluster`).
        hierarchy: TypeHierarchy, mapping or path, optional
            The parent type where the top two share it and differ by less
            than 0.2; fills ``levels``. A mapping gives each child type's
            parent; a path names a ``child<TAB>parent`` file.
        vote_min_probability: float, default 0.2
            In the vote, a cell takes its cluster's majority label only if
            it gives that label at least this probability (0: every cell of
            the cluster, as CellTypist; see :mod:`deepchem_actinn.voting`).
        remove_ambient: bool, default False
            Subtract each cell's estimated ambient RNA (droplet soup) before
            the final scoring (:mod:`deepchem_actinn.preprocessing.ambient`):
            the query is scored once, each cell's share of soup estimated
            from its counts in genes its type does not express in the
            reference, subtracted, and the cleaned counts scored again;
            fills ``ambient_fraction``. A cell whose type's reference cells
            are too few to tell such genes gets the query's median share.
            Needs at least 50 cells.

        Returns
        -------
        Annotation
            ``cell_types``, ``confidence`` and ``probabilities`` (cells x
            ``type_names``) of each cell, the genes the query lacked, and
            what the options add (:class:`~deepchem_actinn.Annotation`).

        Raises
        ------
        ACTINNInputError
            A query that is not raw counts, shares too few of the model's
            genes, or whose cells cannot be scored (the message names them).

        Examples
        --------
        >>> from deepchem_actinn import ACTINNAnnotator
        >>> from deepchem_actinn import load_tabula_muris_sample
        >>> train, test = load_tabula_muris_sample()
        >>> annotator = ACTINNAnnotator(max_epochs=2, n_networks=1).fit(
        ...     train.X, train.var_names, train.obs["cell_type"])
        >>> result = annotator.predict(test.X, test.var_names,
        ...                            test.obs_names, unassigned=True)
        >>> len(result.cell_types), result.probabilities.shape[1]
        (1000, 12)
        """
        if over_clustering is not None and not majority_voting:
            raise ACTINNInputError(
                "over_clustering is what majority voting votes over: pass "
                "majority_voting=True with it")
        X, cell_ids = self._query(X, genes, cell_ids)
        labelling.check_rules(unassigned, threshold)
        if majority_voting:
            from deepchem_actinn.voting import check_share
            check_share(vote_min_probability, "vote_min_probability")
        positions = self.gene_positions(genes)
        hierarchy = labelling.as_hierarchy(hierarchy)
        scorer = self.scorer(positions, len(genes))
        fractions = None
        checked = False
        if remove_ambient:
            X, fractions = self._remove_ambient(X, positions, cell_ids, scorer)
            checked = True
        result = self._annotate(X, positions, cell_ids, unassigned, threshold,
                                gene_column, scorer, checked, None, hierarchy)
        result.ambient_fraction = fractions
        if not remove_ambient:
            self._note_ambient(X, positions, result.probabilities)
        if majority_voting:
            labelling.vote(result, X, over_clustering, self.seed, hierarchy,
                           vote_min_probability)
        return result

    def _remove_ambient(self, X: Matrix, positions: np.ndarray,
                        cell_ids: Optional[Sequence[str]],
                        scorer: EnsembleScorer) -> Tuple[Matrix, np.ndarray]:
        """Score X once, then take each cell's estimated ambient RNA from
        its counts
        (:func:`~deepchem_actinn.preprocessing.ambient.remove_ambient`, on
        the genes :meth:`_note_ambient` judges by: a cell of a type whose
        reference cells are too few to judge any gets the query's typical
        share); the cleaned counts and each cell's share."""
        if X.shape[0] < ambient.MIN_SOUP_CELLS:
            raise ACTINNCellError(
                "removing ambient RNA needs at least %d cells, got %d: the "
                "soup is the pooled profile of the whole query, and in so few "
                "cells each cell's own counts would pass for soup" %
                (ambient.MIN_SOUP_CELLS, X.shape[0]))
        profiles = self.type_profiles_
        if profiles is None:
            raise ACTINNInputError(
                "this annotator was saved by deepchem-actinn %s, without the "
                "reference's per-type gene profiles that remove_ambient "
                "needs: retrain it with this version" %
                getattr(self, "package_version_", "?"))
        _, logits, linear = scorer.score(X, as_cell_ids(cell_ids, X.shape[0]))
        proba = self.probabilities(logits, linear)
        clean, fractions = ambient.remove_ambient(
            X,
            positions,
            proba.argmax(axis=1),
            profiles,
            proba.max(axis=1) >= ambient.TRUSTED_PROBABILITY,
            profile_cells=self.profile_cells_)
        logger.info(
            "ambient RNA: a median %.1f %% (90th percentile %.1f %%) of each "
            "cell's counts in the model's genes, subtracted",
            100 * float(np.median(fractions)),
            100 * float(np.percentile(fractions, 90)))
        return clean, fractions

    def _note_ambient(self, X: Matrix, positions: np.ndarray,
                      probabilities: np.ndarray) -> Optional[float]:
        """Warn when a typical cell of X (up to 5,000 cells spread over it,
        among those labelled with at least 0.5 probability) looks to hold
        more than 5 % ambient RNA, which ``remove_ambient`` would subtract;
        returns that median share (None without the reference's gene
        profiles or with under 50 such cells). Where the annotator kept
        how many cells each type's profile rests on, a gene counts as one a
        type does not express only where its reference cells would have
        shown it (``profile_cells`` of
        :func:`~deepchem_actinn.preprocessing.ambient.ambient_fractions`):
        a type profiled from few cells otherwise made a query without soup
        look half soup."""
        if self.type_profiles_ is None or X.shape[0] == 0:
            return None
        rows = np.unique(
            np.linspace(0, X.shape[0] - 1, min(X.shape[0],
                                               5000)).astype(np.int64))
        proba = probabilities[rows]
        sample = sp.csr_matrix(X)[rows] if sp.issparse(X) else np.asarray(
            X[rows])  # rows first: a dense query is not copied whole
        fractions = ambient.ambient_fractions(sample,
                                              positions,
                                              proba.argmax(axis=1),
                                              self.type_profiles_,
                                              profile_cells=self.profile_cells_)
        median = ambient.typical_fraction(
            fractions,
            proba.max(axis=1) >= ambient.TRUSTED_PROBABILITY)
        if median is None:
            if len(fractions) >= 50 and np.isnan(fractions).mean() > 0.5:
                logger.info(
                    "ambient RNA not checked: the reference cells of most of "
                    "this query's types are too few (or too shallow) to tell "
                    "a gene their type does not express from one they "
                    "missed by chance")
            return None
        if median > ambient.WARN_FRACTION:
            message = ("a typical cell of this query looks to hold about "
                       "%.0f %% ambient RNA (counts in genes its type does not "
                       "express in the reference); %s subtracts it before "
                       "labelling")
            if median >= ambient.MAX_FRACTION:
                message += (". So high a share more likely means cells "
                            "unlike the reference's types")
            logger.warning(message, 100 * median, REMOVE_AMBIENT)
        return median

    def iter_predict(self,
                     chunks: Iterable[Tuple[Any, Matrix]],
                     genes: Sequence[str],
                     unassigned: bool = False,
                     threshold: Optional[float] = None,
                     gene_column: str = "var_names",
                     checked: bool = False) -> Iterator[Annotation]:
        """Annotate a query that arrives in ``(cell_ids, counts)`` chunks.

        Genes are matched once; memory is bounded by the chunk size. This
        is the streaming path of ``actinn predict``.

        Parameters
        ----------
        chunks: iterable of (cell ids, counts)
            Raw counts, cells x ``genes``, dense or sparse, chunk by chunk
            (e.g. from :func:`deepchem_actinn.io.iter_cell_chunks`).
        genes: sequence of str
            The query's gene identifiers, one per column.
        unassigned, threshold, gene_column:
            As in :meth:`predict`.
        checked: bool, default False
            The chunks' values were already checked for negative, NaN and
            infinite values (``iter_cell_chunks`` checks them): skip that.

        Yields
        ------
        Annotation
            One per chunk.
        """
        labelling.check_rules(unassigned, threshold)
        positions = self.gene_positions(genes)
        scorer = self.scorer(positions, len(genes))
        calibration = None  # the previous chunk's, for a small tail
        first = True
        start = 0  # default ids number the cells across chunks
        for cell_ids, X in chunks:
            X = as_matrix(X)
            cell_ids = as_cell_ids(cell_ids, X.shape[0], start)
            start += X.shape[0]
            if not checked:
                refuse_log_normalised(X, cell_ids, source="the query")
            result = self._annotate(X, positions, cell_ids, unassigned,
                                    threshold, gene_column, scorer, checked,
                                    calibration)
            calibration = result.calibration if unassigned else None
            if first:
                self._note_ambient(X, positions, result.probabilities)
                first = False
            yield result

    def predict_file(self,
                     path: Union[str, os.PathLike],
                     format: Optional[str] = None,
                     chunk_size: int = 50_000,
                     upper_case_genes: bool = True,
                     unassigned: bool = False,
                     threshold: Optional[float] = None,
                     allow_non_integer: bool = False,
                     *,
                     layer: Optional[str] = None,
                     use_raw: Optional[bool] = None,
                     orientation: Optional[str] = None) -> Iterator[Annotation]:
        """Annotate a query file chunk by chunk, without reading it whole.

        Genes are matched through whichever identifier column of the file
        matches the model's genes best (said once, as every prediction path
        says it); a query that shares too few of them is refused, naming
        the file.

        Parameters
        ----------
        path: str or Path
            Raw counts in any format :func:`deepchem_actinn.io.read`
            knows; h5ad, ACTINN HDF5 and 10x HDF5 stream from disk.
        format: str, optional
            Force the file format.
        chunk_size: int, default 50,000
            Cells per chunk.
        upper_case_genes: bool, default True
            As in :func:`deepchem_actinn.io.read`.
        unassigned, threshold:
            As in :meth:`predict`.
        allow_non_integer: bool, default False
            Take non-integer values as counts on another scale (TPM, FPKM);
            values that look log-normalised are refused even so.
        layer, use_raw:
            h5ad only: read the counts from ``layers[layer]`` or
            (``use_raw=True``) ``.raw.X``; ``use_raw=False`` insists on
            ``X``. By default as :func:`deepchem_actinn.io.read` chooses.
        orientation: str, optional
            CSV/TSV only: ``"genes_by_cells"`` (genes as rows, ACTINN's
            layout) or ``"cells_by_genes"`` (cells as rows). By default the
            axis that holds more of the model's genes is taken for genes,
            as :func:`deepchem_actinn.io.read` does given
            ``expected_genes``.

        Yields
        ------
        Annotation
            One per chunk, in file order.

        Examples
        --------
        >>> import os, tempfile
        >>> from deepchem_actinn import ACTINNAnnotator
        >>> from deepchem_actinn import load_tabula_muris_sample
        >>> train, test = load_tabula_muris_sample()
        >>> annotator = ACTINNAnnotator(max_epochs=1, n_networks=1).fit(
        ...     train.X, train.var_names, train.obs["cell_type"])
        >>> path = os.path.join(tempfile.mkdtemp(), "cells_by_genes.csv")
        >>> test[:50].to_df().to_csv(path)  # cells as rows
        >>> [len(chunk) for chunk in annotator.predict_file(path,
        ...                                                 chunk_size=20)]
        [20, 20, 10]
        """
        from deepchem_actinn.io import iter_cell_chunks
        from deepchem_actinn.io.stream import settle_counts_matrix
        from deepchem_actinn.preprocessing.genes import (query_file_genes,
                                                         query_orientation)
        self._check_fitted()
        layer, use_raw = settle_counts_matrix(
            path,
            format,
            layer=layer,
            use_raw=use_raw,
            allow_non_integer=allow_non_integer)
        options: Dict[str, Any] = dict(layer=layer,
                                       use_raw=use_raw,
                                       allow_non_integer=allow_non_integer,
                                       orientation=query_orientation(
                                           path, format, orientation,
                                           self.genes_))
        column, genes = query_file_genes(self.genes_,
                                         path,
                                         format,
                                         self.min_overlap,
                                         upper_case_genes=upper_case_genes,
                                         **options)
        chunks = iter_cell_chunks(path,
                                  chunk_size,
                                  format,
                                  upper_case_genes=upper_case_genes,
                                  **options)
        try:
            yield from self.iter_predict(prefetch(chunks), genes, unassigned,
                                         threshold, column, True)
        except ACTINNCellError as err:
            raise err.in_file(path) from None

    def _annotate(self, *args, **kwargs) -> Annotation:
        """:func:`~deepchem_actinn.annotator.labelling.annotate_matrix`."""
        return labelling.annotate_matrix(self, *args, **kwargs)
