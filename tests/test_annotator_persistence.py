"""``ACTINNAnnotator.save`` and ``load``: round trips, overwriting, what is
not an annotator, damaged files, older formats and package versions, and a
saved model loaded onto a device without CUDA (or MPS, or ``meta``): the
device's problem, not the directory's."""

import json
import os
import re

import numpy as np
import torch
import pytest

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.annotator import persistence
from deepchem_actinn.annotator import FORMAT_VERSION
from deepchem_actinn.errors import ACTINNInputError


def test_save_load_round_trip_gives_identical_probabilities(
        quick, tm_test, tmp_path):
    quick.save(tmp_path / "model")
    loaded = ACTINNAnnotator.load(tmp_path / "model")
    a = quick.predict(tm_test["X"], tm_test["genes"])
    b = loaded.predict(tm_test["X"], tm_test["genes"])
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    np.testing.assert_array_equal(a.cell_types, b.cell_types)
    assert loaded.genes_ == quick.genes_
    assert loaded.threshold_ == quick.threshold_
    np.testing.assert_array_equal(
        loaded.predict(tm_test["X"], tm_test["genes"],
                       unassigned=True).cell_types,
        quick.predict(tm_test["X"], tm_test["genes"],
                      unassigned=True).cell_types)
    with pytest.raises(ACTINNInputError, match="exists"):
        quick.save(tmp_path / "model")
    quick.save(tmp_path / "model", overwrite=True)


def test_load_refuses_non_annotators_and_other_versions(quick, tmp_path):
    with pytest.raises(ACTINNInputError, match="no such annotator"):
        ACTINNAnnotator.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ACTINNInputError, match="not an ACTINN annotator"):
        ACTINNAnnotator.load(tmp_path / "empty")
    quick.save(tmp_path / "old")
    config_path = tmp_path / "old" / "annotator.json"
    config = json.loads(config_path.read_text())
    config["format_version"] = FORMAT_VERSION + 1
    config_path.write_text(json.dumps(config))
    with pytest.raises(ACTINNInputError, match="annotator format"):
        ACTINNAnnotator.load(tmp_path / "old")
    config_path.write_text("{}")
    with pytest.raises(ACTINNInputError) as err:
        ACTINNAnnotator.load(tmp_path / "old")
    assert str(err.value).startswith("%s is damaged: it has no "
                                     "format_version" % config_path)
    (tmp_path / "counts.h5").write_bytes(b"")
    with pytest.raises(ACTINNInputError) as err:
        ACTINNAnnotator.load(tmp_path / "counts.h5")
    assert str(err.value).startswith(
        "%s is a file; an annotator is a directory" % (tmp_path / "counts.h5"))


def test_load_warns_about_a_model_of_another_package_version(
        quick, tmp_path, caplog):
    quick.save(tmp_path / "model")
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    assert "was saved by" not in caplog.text
    config_path = tmp_path / "model" / "annotator.json"
    for saved_by, said in (("0.0.1", "0.0.1"), (None, "(an earlier version)")):
        config = json.loads(config_path.read_text())
        config["package_version"] = saved_by
        config_path.write_text(json.dumps(config))
        caplog.clear()
        with caplog.at_level("WARNING", logger="deepchem_actinn"):
            loaded = ACTINNAnnotator.load(tmp_path / "model", device="cpu")
        assert ("%s was saved by deepchem-actinn %s, this is " %
                (tmp_path / "model", said)) in caplog.text
        assert loaded.genes_ == quick.genes_


def test_overwrite_replaces_only_an_annotator(quick, tmp_path):
    """save(overwrite=True) replaces the whole directory: one holding other
    files is refused, and they are kept."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("mine")
    with pytest.raises(ACTINNInputError,
                       match="files that are not an annotator's "
                       "\\(notes.txt\\)"):
        quick.save(tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "notes.txt").read_text() == "mine"
    quick.save(tmp_path / "model")
    (tmp_path / "model" / ".DS_Store").write_text("")
    quick.save(tmp_path / "model", overwrite=True)  # an annotator: replaced
    assert ACTINNAnnotator.load(tmp_path / "model").genes_ == quick.genes_


FILE_NOT_DIR = ("{} names a file{}, not an annotator's directory (an "
                "annotator is saved as a directory, which would take the "
                "file's place); save it under another name")


@pytest.mark.parametrize("overwrite", [True, False])
def test_saving_over_a_file_is_refused_and_the_file_kept(
        quick, tmp_path, overwrite):
    """overwrite=True deleted a file at the path (the reference itself,
    given as the model's name) and put the annotator in its place."""
    path = tmp_path / "ref.h5ad"
    path.write_bytes(b"the reference's counts")
    with pytest.raises(ACTINNInputError,
                       match="^%s$" % re.escape(FILE_NOT_DIR.format(path, ""))):
        quick.save(path, overwrite=overwrite)
    assert path.read_bytes() == b"the reference's counts"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.h5ad"]


def test_saving_over_a_link_to_a_file_is_refused(quick, tmp_path):
    target = tmp_path / "ref.h5ad"
    target.write_bytes(b"counts")
    link = tmp_path / "model"
    link.symlink_to(target)
    with pytest.raises(
            ACTINNInputError,
            match="^%s$" % re.escape(
                FILE_NOT_DIR.format(
                    link, " (a link to %s)" % os.path.realpath(target)))):
        quick.save(link, overwrite=True)
    assert link.is_symlink() and target.read_bytes() == b"counts"
    # a link to an annotator's directory is still replaced through it
    quick.save(tmp_path / "v1")
    (tmp_path / "current").symlink_to(tmp_path / "v1")
    quick.save(tmp_path / "current", overwrite=True)
    assert (tmp_path / "current").is_symlink()
    assert ACTINNAnnotator.load(tmp_path / "current").genes_ == quick.genes_


def test_actinn_train_refuses_a_model_path_naming_its_reference(
        tmp_path, capsys):
    """Before any training, the file kept: train -m REF --overwrite
    replaced the reference with the annotator."""
    from deepchem_actinn.cli import main
    from deepchem_actinn.datasets import tabula_muris_sample_paths
    paths = tabula_muris_sample_paths()
    reference = tmp_path / "ref.h5"
    reference.write_bytes(paths["train"].read_bytes())
    assert main([
        "train", "-trs",
        str(reference), "-trl",
        str(paths["train_labels"]), "-m",
        str(reference), "--overwrite", "-ne", "1"
    ]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "actinn train: error: -m " + FILE_NOT_DIR.format(reference, "")
    ]
    assert reference.read_bytes() == paths["train"].read_bytes()


@pytest.mark.parametrize("damage", [
    "no rule", "weights not torch", "config a list", "no genes",
    "unknown param", "nan weights", "nan setting", "no profiles",
    "changed weights"
])
def test_a_damaged_annotator_is_one_clear_error(quick, tmp_path, damage):
    import json
    path = tmp_path / "model"
    quick.save(path)
    config = json.loads((path / persistence.CONFIG_FILE).read_text())
    if damage == "no rule":
        (path / persistence.RULE_FILE).unlink()
    elif damage == "weights not torch":
        (path / persistence.WEIGHTS_FILE).write_bytes(b"not a torch file")
    elif damage == "config a list":
        (path / persistence.CONFIG_FILE).write_text("[1, 2]")
    elif damage == "no genes":
        del config["genes"]
        (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
    elif damage in ("nan weights", "changed weights"):
        states = torch.load(path / persistence.WEIGHTS_FILE)
        next(iter(states[0].values()))[0, 0] = float("nan")
        torch.save(states, path / persistence.WEIGHTS_FILE)
        if damage == "nan weights":  # as saved before checksums were kept
            del config["checksums"]
            (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
    elif damage == "no profiles":  # written by every save of this version
        (path / persistence.PROFILE_FILE).unlink()
    elif damage == "nan setting":
        config["params"]["target_sum"] = float("nan")
        (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
    else:
        config["params"]["from_the_future"] = 1
        (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ACTINNInputError, match=str(path)) as err:
        ACTINNAnnotator.load(path, device="cpu")
    if damage == "unknown param":
        assert "settings this version" in str(err.value)
        assert "from_the_future" in str(err.value)
    if damage == "nan weights":
        assert "weights hold NaN or infinite values" in str(err.value)
    if damage == "changed weights":
        assert ("weights.pt is not the file this annotator was saved with "
                "(its checksum differs" in str(err.value))
    if damage == "nan setting":
        assert "target_sum must be a number above 0" in str(err.value)


def test_a_device_without_cuda_is_not_a_damaged_model(quick, tmp_path,
                                                      monkeypatch):
    quick.save(tmp_path / "model")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ACTINNInputError, match="sees no CUDA GPU"):
        ACTINNAnnotator.load(tmp_path / "model", device="cuda")


def test_format_1_written_as_networks_state_dicts_still_loads(
        quick, tm_test, tmp_path):
    """Format 1 as earlier versions wrote it (one ACTINNClassifier
    state_dict per member, no checksums) loads into the ensemble
    unchanged."""
    quick.save(tmp_path / "model")
    torch.save([network.state_dict() for network in quick.networks_],
               tmp_path / "model" / "weights.pt")
    config_path = tmp_path / "model" / "annotator.json"
    config = json.loads(config_path.read_text())
    del config["checksums"]
    config_path.write_text(json.dumps(config))
    loaded = ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    np.testing.assert_array_equal(
        loaded.predict(tm_test["X"], tm_test["genes"]).probabilities,
        quick.predict(tm_test["X"], tm_test["genes"]).probabilities)
    # and a damaged one is refused in one line
    torch.save([{
        "first.weight": torch.zeros(3, 3)
    }], tmp_path / "model" / "weights.pt")
    with pytest.raises(ACTINNInputError,
                       match="network 1's first.bias is missing, .* the "
                       "annotator.json and the weights are not one "
                       "annotator's"):
        ACTINNAnnotator.load(tmp_path / "model")


def test_a_device_problem_is_not_a_damaged_model(quick, tm_test, tmp_path,
                                                 monkeypatch):
    """``cpu:0`` (PyTorch's CPU by its index) loads as ``cpu``; a device
    PyTorch cannot compute on is named as the device's problem, and so is
    one moving the networks there fails on (out of memory, say): never
    the directory's."""
    quick.save(tmp_path / "model")
    loaded = ACTINNAnnotator.load(tmp_path / "model", device="cpu:0")
    np.testing.assert_array_equal(
        loaded.predict(tm_test["X"], tm_test["genes"]).probabilities,
        quick.predict(tm_test["X"], tm_test["genes"]).probabilities)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for device, why in (("meta", "'meta' cannot compute"),
                        ("mps", "MPS is not available on this machine")):
        with pytest.raises(ACTINNInputError,
                           match="^device %s: %s" % (device, why)):
            ACTINNAnnotator.load(tmp_path / "model", device=device)
    from deepchem_actinn.models.network import ACTINNEnsemble

    def fails(self, *args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")

    monkeypatch.setattr(ACTINNEnsemble, "to", fails)
    with pytest.raises(ACTINNInputError) as err:
        ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    assert str(err.value) == (
        "device cpu: the annotator's networks cannot be put there "
        "(RuntimeError: CUDA out of memory. Tried to allocate 2 GiB)")
