"""A saved annotator from someone else is checked before it is used: an
edited file (its checksums recomputed, as anyone can) is refused by name,
never loaded into NaN confidences, wrong labels or gigabytes of memory, and
no pickled code runs."""
import hashlib
import json
import os
import zipfile

import numpy as np
import pytest
import torch

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.annotator import persistence
from deepchem_actinn.errors import ACTINNInputError

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def saved(tm_train, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "model"
    ACTINNAnnotator(max_epochs=2, early_stopping=False, n_networks=2,
                    seed=0).fit(tm_train["X"][:600], tm_train["genes"],
                                tm_train["labels"][:600]).save(path)
    return path


def _copy(saved, tmp_path):
    import shutil
    path = tmp_path / "model"
    shutil.copytree(saved, path)
    return path


def _config(path):
    return json.loads((path / persistence.CONFIG_FILE).read_text())


def _reseal(path, config):
    """What a forger does: recompute the checksums of the edited files."""
    config["checksums"] = {
        name: hashlib.sha256((path / name).read_bytes()).hexdigest()
        for name in config["checksums"]
    }
    (path / persistence.CONFIG_FILE).write_text(json.dumps(config))


def _edit_pt(name, change):

    def edit(path, config):
        state = torch.load(path / name, weights_only=True)
        state = change(state) or state
        torch.save(state, path / name)

    return edit


def _edit_config(change):
    return lambda path, config: change(config)


def _set(key, value, section=None):

    def change(config):
        (config[section] if section else config)[key] = value

    return change


def _first_rule_row(rule):
    rule["reference"] = [row[:3] for row in rule["reference"]]


def _nan_coef(arrays):
    arrays["coef"][0, 0] = float("nan")


def _negative_profile(table):
    table[0, 0] = -1.0


def _nan_threshold(rule):
    rule["threshold"] = float("nan")


def _one_scale_more(rule):
    rule["scales"] = list(rule["scales"]) + [1.0]


def _repeat_gene(config):
    config["genes"][1] = config["genes"][0].lower()


def _repeat_type(config):
    config["type_names"][1] = config["type_names"][0]


def _unassigned_type(config):
    config["type_names"][1] = "Unassigned"


@pytest.mark.parametrize("edit, message", [
    (_edit_config(_set("temperature", float("nan"))),
     "annotator.json is damaged: temperature is nan; it must be a number "
     "above 0"),
    (_edit_config(_set("temperature", 0.0)), "temperature is 0.0; it must be"),
    (_edit_config(_set("threshold", 2.0)),
     "threshold is 2.0; it must be a number from 0 to 1"),
    (_edit_config(_repeat_gene), r"annotator.json is damaged: 1 gene is "
     r"named more than once \(names are compared ignoring case and an "
     r"Ensembl version\): \w+/\w+; a model gene names one column"),
    (_edit_config(_repeat_type), "1 type name appears more than once: "),
    (_edit_config(_unassigned_type), "none named 'Unassigned'"),
    (_edit_config(_set("hidden_sizes", [3000000, 50, 25], "params")),
     r"weights.pt: network 1's first.bias is \(100,\), but 1\d+ genes, 12 "
     r"types and hidden sizes \[3000000, 50, 25\] make it \(3000000,\)"),
    (_edit_pt("linear.pt",
              _nan_coef), "linear.pt: coef holds NaN or infinite values"),
    (_edit_pt("profiles.pt", _negative_profile),
     "profiles.pt: the profiles hold negative shares"),
    (_edit_pt("rejection.pt", _nan_threshold),
     "rejection.pt: threshold holds NaN or infinite values"),
    (_edit_pt("rejection.pt", _first_rule_row),
     "the rule's reference cells are 3 features wide, the networks give 50"),
    (_edit_pt("rejection.pt",
              _one_scale_more), r"the rule holds \(13,\) scales, for 12 types"),
],
                         ids=[
                             "nan temperature", "zero temperature",
                             "threshold above 1", "gene twice", "type twice",
                             "type Unassigned", "huge hidden layer",
                             "nan regression", "negative profile", "nan rule",
                             "rule width", "rule scales"
                         ])
def test_an_edited_annotator_is_refused_naming_the_file(saved, tmp_path, edit,
                                                        message):
    path = _copy(saved, tmp_path)
    config = _config(path)
    edit(path, config)
    _reseal(path, config)
    with pytest.raises(ACTINNInputError, match=str(path) + ".*" + message):
        ACTINNAnnotator.load(path, device="cpu")


def test_the_checksums_name_only_the_annotators_own_files(saved, tmp_path):
    path = _copy(saved, tmp_path)
    config = _config(path)
    config["checksums"]["../annotator.json"] = "0" * 64
    (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ACTINNInputError,
                       match=r"its checksums name \.\./annotator\.json, not "
                       "an annotator's files"):
        ACTINNAnnotator.load(path, device="cpu")
    # a file the checksums leave out is not among those saved
    path = _copy(saved, tmp_path / "2")
    config = _config(path)
    del config["checksums"]["linear.pt"]
    (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ACTINNInputError,
                       match="linear.pt is not among the files this annotator "
                       "was saved with"):
        ACTINNAnnotator.load(path, device="cpu")


def test_a_file_linked_from_outside_the_directory_is_refused(saved, tmp_path):
    path = _copy(saved, tmp_path)
    outside = tmp_path / "elsewhere.pt"
    os.replace(path / "rejection.pt", outside)
    os.symlink(outside, path / "rejection.pt")
    with pytest.raises(ACTINNInputError,
                       match="rejection.pt is a link to .*elsewhere.pt, "
                       "outside the annotator directory"):
        ACTINNAnnotator.load(path, device="cpu")


def test_without_checksums_it_loads_and_says_it_is_not_verified(
        saved, tmp_path, caplog):
    for empty in ("absent", {}):  # an empty list of them checks nothing
        path = _copy(saved, tmp_path / str(len(empty)))
        config = _config(path)
        if empty == "absent":
            del config["checksums"]
        else:
            config["checksums"] = empty
        (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
        caplog.clear()
        ACTINNAnnotator.load(path, device="cpu")
        assert "has no checksums (saved by a version before them, or " \
            "edited): its files are not verified" in caplog.text


def test_a_compressed_weights_file_is_refused_unread(saved, tmp_path):
    # a few hundred KB of zeros that would expand to 400 MB in memory
    path = _copy(saved, tmp_path)
    states = torch.load(path / "weights.pt", weights_only=True)
    states[0]["first.weight"] = torch.zeros(100_000_000)
    torch.save(states, path / "weights.pt")
    with zipfile.ZipFile(path / "weights.pt") as archive:
        entries = [
            (e.filename, archive.read(e.filename)) for e in archive.infolist()
        ]
    with zipfile.ZipFile(path / "weights.pt", "w",
                         zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    assert os.path.getsize(path / "weights.pt") < 2_000_000
    config = _config(path)
    _reseal(path, config)
    with pytest.raises(ACTINNInputError,
                       match="weights.pt holds compressed entries .*; "
                       "torch.save writes tensors uncompressed"):
        ACTINNAnnotator.load(path, device="cpu")


class _Payload:

    def __reduce__(self):
        return (os.mkdir, (os.environ["ACTINN_TEST_MARK"],))


def test_a_pickled_object_runs_no_code_and_is_named(saved, tmp_path,
                                                    monkeypatch):
    path = _copy(saved, tmp_path)
    mark = tmp_path / "ran"
    monkeypatch.setenv("ACTINN_TEST_MARK", str(mark))
    torch.save([_Payload()], path / "weights.pt")
    _reseal(path, _config(path))
    with pytest.raises(ACTINNInputError) as err:
        ACTINNAnnotator.load(path, device="cpu")
    assert str(err.value) == (
        "%s holds objects that are not tensors or plain values; it was not "
        "written by ACTINNAnnotator.save(), refused unread (none of its code "
        "was run)" % (path / "weights.pt"))
    assert "weights_only" not in str(err.value)
    assert not mark.exists()


@pytest.mark.filterwarnings("error")
def test_a_raw_pickle_is_refused_without_torch_s_warnings(saved, tmp_path):
    """torch's 2-line UserWarning on its pickle protocol came before the
    (correct) one-line refusal."""
    import pickle
    path = _copy(saved, tmp_path)
    with open(path / "weights.pt", "wb") as handle:
        pickle.dump({"first.weight": [1.0]}, handle, protocol=4)
    _reseal(path, _config(path))
    with pytest.raises(ACTINNInputError,
                       match="weights.pt holds objects that are not tensors"):
        ACTINNAnnotator.load(path, device="cpu")


def test_warnings_of_a_file_that_loads_are_kept(tmp_path, monkeypatch):
    import warnings
    from deepchem_actinn.annotator import saved_state

    def warned_load(*args, **kwargs):
        warnings.warn("torch says something", UserWarning)
        return {"a": 1}

    monkeypatch.setattr(saved_state.torch, "load", warned_load)
    (tmp_path / "x.pt").write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="torch says something"):
        assert saved_state.load_tensors(str(tmp_path / "x.pt")) == {"a": 1}


def test_overwriting_keeps_hidden_folders_that_are_not_clutter(
        saved, tmp_path, tm_train):
    path = _copy(saved, tmp_path)
    (path / ".git").mkdir()
    (path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    annotator = ACTINNAnnotator.load(path, device="cpu")
    with pytest.raises(ACTINNInputError,
                       match=r"holds files that are not an annotator's "
                       r"\(\.git\)"):
        annotator.save(path, overwrite=True)
    assert (path / ".git" / "HEAD").exists()
    (path / ".git" / "HEAD").unlink()
    (path / ".git").rmdir()
    for clutter in (".DS_Store", "._weights.pt", ".gitkeep"):
        (path / clutter).write_text("")
    (path / ".ipynb_checkpoints").mkdir()
    annotator.save(path, overwrite=True)
    assert sorted(os.listdir(path)) == sorted(persistence.OURS)
    np.testing.assert_array_equal(
        ACTINNAnnotator.load(path, device="cpu").genes_, annotator.genes_)
