"""Files written by a released skae load in every later release and give the same
outputs; files of a newer skae are refused; loading says when the releases that
compute a model differ from those that wrote it."""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn
import skorch
import torch

import skae
from skae import AutoencoderTransformer, InconsistentVersionWarning, LinearAETransformer
from skae._persistence import _deserialize, _release, _serialize

FILES = Path(__file__).parent / "files"
RELEASED_FILES = sorted(FILES.glob("*/*.skae"))


def _rewrite(path, change):
    """Apply ``change(document)`` to the file's JSON document and write it back with
    a matching digest, as an older or a newer skae would have written it."""
    document, tensors = _deserialize(path.read_bytes(), path)
    change(document)
    path.write_bytes(_serialize(document, dict(tensors)))


def _drop_params(*names):
    def change(document):
        document["params"]["dict"] = [
            entry for entry in document["params"]["dict"] if entry[0] not in names
        ]

    return change


def _as_written_by(version, dependencies=None):
    """A change that makes a document claim another skae ``version`` and, unless
    ``dependencies`` is given, no record of its dependencies (as 0.2.0's files)."""

    def change(document):
        document["skae_version"] = version
        if dependencies is None:
            document.pop("dependencies")
        else:
            document["dependencies"] = dependencies

    return change


@pytest.fixture
def saved(wine, tmp_path):
    """(path, estimator): a small autoencoder fitted on wine and saved by this skae."""
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(4,), max_iter=2, n_iter_no_change=None, random_state=0
    ).fit(wine)
    skae.save(est, tmp_path / "est.skae")
    return tmp_path / "est.skae", est


@pytest.mark.parametrize("path", RELEASED_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_files_of_released_skae_give_their_recorded_outputs(path):
    # written by tests/files/make_files.py with the release of the folder's name
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", InconsistentVersionWarning)
        est = skae.load(path)
    if path.parent.name != skae.__version__:
        (warning,) = record
        assert warning.message.written["skae"] == path.parent.name
    recorded = np.load(path.with_suffix(".npz"))
    probe = recorded["probe"]
    codes = est.transform(probe)
    found = {
        "transform": codes,
        "inverse_transform": est.inverse_transform(codes),
        "score_samples": est.score_samples(probe),
    }
    if hasattr(est, "predict"):
        found["decision_function"] = est.decision_function(probe)
        found["predict"] = est.predict(probe)
    assert found.keys() == set(recorded.files) - {"probe"}
    for method, output in found.items():
        expected = recorded[method]
        assert output.dtype == expected.dtype and output.shape == expected.shape, method
        if method == "predict":
            np.testing.assert_array_equal(output, expected)
        else:
            np.testing.assert_allclose(output, expected, rtol=1e-6, atol=1e-6, err_msg=method)
    # and training goes on from the file's optimizer state
    n_iter = est.n_iter_
    assert est.partial_fit(probe).n_iter_ > n_iter


def test_the_files_are_of_releases_up_to_this_one():
    # tests/test_release.py checks that every release since 0.2.0 has its folder
    releases = {path.parent.name for path in RELEASED_FILES}
    assert "0.2.0" in releases
    assert all(_release(r, "release") <= _release(skae.__version__, "release") for r in releases)


def test_a_missing_parameter_takes_its_default(saved, wine):
    path, est = saved
    # as a file of 0.2.0 from before precision, pretrain_iter and learning_rate
    _rewrite(path, _drop_params("precision", "pretrain_iter", "learning_rate"))
    _rewrite(path, _as_written_by("0.2.0"))
    with pytest.warns(
        InconsistentVersionWarning, match="skae 0.2.0, which did not record its dependencies"
    ):
        loaded = skae.load(path)
    assert (loaded.precision, loaded.pretrain_iter, loaded.learning_rate) == (
        "float32",
        0,
        "constant",
    )
    np.testing.assert_array_equal(loaded.transform(wine), est.transform(wine))


def test_a_file_of_this_release_must_hold_every_parameter(saved):
    path, _ = saved
    _rewrite(path, _drop_params("precision"))
    with pytest.raises(ValueError, match=r"lacks the parameters \['precision'\]"):
        skae.load(path)


def test_a_file_of_this_version_may_lack_the_parameters_this_version_added(saved, wine):
    # files of the commits labelled 0.3.0 before these parameters came were refused
    # ("it lacks the parameters [...], which the files of skae 0.3.0 hold"), as
    # 0.2.0's were in 0.2.0
    path, est = saved
    added = sorted(p for p, v in est._parameters_added.items() if v == skae.__version__)
    assert {"n_jobs", "categorical_features", "reconstruction_sampling"} <= set(added)
    _rewrite(path, _drop_params(*added))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same version: nothing to warn of
        loaded = skae.load(path)
    np.testing.assert_array_equal(loaded.transform(wine), est.transform(wine))
    assert all(getattr(loaded, p) == getattr(type(est)(), p) for p in added)


@pytest.mark.parametrize(
    "name, parameter",
    [
        ("linear-whiten", "whiten"),
        ("ae-bce", "loss"),
        ("vae-bernoulli", "likelihood"),
        ("vae-detector-elbo", "anomaly_score"),
    ],
)
def test_a_file_of_0_2_0_without_a_parameter_0_2_0_had_is_refused(name, parameter, tmp_path):
    # every parameter missing from a 0.2.0 file took its default: one without whiten
    # loaded unwhitened, its codes 3.9 off the recorded ones
    path = tmp_path / "est.skae"
    path.write_bytes((FILES / "0.2.0" / f"{name}.skae").read_bytes())
    _rewrite(path, _drop_params(parameter))
    with pytest.raises(
        ValueError, match=rf"lacks the parameters \['{parameter}'\], which the files"
    ):
        skae.load(path)


def test_only_the_parameters_a_release_lacked_may_be_missing_from_its_files():
    held = {}
    for path in RELEASED_FILES:
        document, _ = _deserialize(path.read_bytes(), path)
        names = {entry[0] for entry in document["params"]["dict"]}
        held.setdefault((document["class"], document["skae_version"]), []).append(names)
    for (name, version), files in held.items():
        cls = getattr(skae, name)
        lacking = set(cls._get_param_names()) - set.intersection(*files)
        # each class names the release that added what its oldest files lack
        assert lacking <= cls._parameters_added.keys(), name
        assert all(_release(cls._parameters_added[p], p) >= _release(version, p) for p in lacking)


@pytest.mark.parametrize("version", ["0.1.0", "0.0.1"])
def test_a_file_of_this_format_claiming_a_release_before_0_2_0_is_refused(version, saved):
    path, _ = saved
    _rewrite(path, _as_written_by(version))
    with pytest.raises(ValueError, match=rf"says skae {version} wrote it.*other formats"):
        skae.load(path)


@pytest.mark.parametrize("version", ["99.0.0", "0.10.0", "1.0.0"])
def test_a_file_of_a_newer_skae_is_refused_by_name(version, saved):
    # numbers, not strings: "0.10.0" comes after "0.3.0"
    path, _ = saved
    _rewrite(path, _as_written_by(version, dependencies=json.loads(json.dumps(_installed()))))
    with pytest.raises(
        ValueError, match=rf"written by skae {re.escape(version)}, which is newer than this skae"
    ):
        skae.load(path)


def test_release_numbers_compare_as_numbers():
    assert _release("0.10.0", "v") > _release("0.9.1", "v") > _release("0.9.0", "v")
    # this skae's own version is such a number, or its files would not load
    _release(skae.__version__, "version")


@pytest.mark.parametrize(
    "change, message",
    [
        (_as_written_by("latest"), r"skae_version 'latest' is not a release number"),
        (_as_written_by(3), r"skae_version 3 is not a release number"),
        (_as_written_by("0.3"), r"skae_version '0.3' is not a release number"),
        (lambda d: d["dependencies"].update(torch=2), r"dependencies .* must name a release"),
        (lambda d: d["dependencies"].pop("numpy"), r"dependencies .* must name a release"),
        (lambda d: d.update(dependencies="torch 2.13"), r"dependencies .* must name a release"),
        (
            lambda d: d.update(extra={}),
            r"must have the entries .* and may have \['dependencies', 'requests'\]",
        ),
    ],
)
def test_malformed_version_records_are_refused(change, message, saved):
    path, _ = saved
    _rewrite(path, change)
    with pytest.raises(ValueError, match=message):
        skae.load(path)


def _installed():
    return {
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
    }


def test_a_file_records_the_releases_that_wrote_it(saved):
    path, _ = saved
    document, _ = _deserialize(path.read_bytes(), path)
    assert document["skae_version"] == skae.__version__
    assert document["dependencies"] == _installed()
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        skae.load(path)


def _bump_minor(version):
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()
    return f"{major}.{int(minor) + 1}.0"


@pytest.mark.parametrize("package", ["torch", "numpy", "scikit-learn", "skorch"])
def test_another_minor_release_of_a_dependency_warns_by_name(package, saved):
    path, _ = saved
    older = _installed() | {package: _bump_minor(_installed()[package])}
    _rewrite(path, lambda document: document.update(dependencies=older))
    with pytest.warns(InconsistentVersionWarning) as record:
        skae.load(path)
    (warning,) = record
    assert warning.message.written == {package: older[package]}
    assert warning.message.current == {package: _installed()[package]}
    assert f"{package} {older[package]}" in str(warning.message)
    assert warning.filename == __file__  # the caller's line


def test_another_patch_release_or_build_of_a_dependency_does_not_warn(saved):
    path, _ = saved
    major_minor = re.match(r"\d+\.\d+", _installed()["torch"]).group()
    other_build = _installed() | {"torch": f"{major_minor}.99+cu999"}
    _rewrite(path, lambda document: document.update(dependencies=other_build))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        skae.load(path)


def test_a_file_of_an_earlier_skae_warns_with_its_release(wine, tmp_path):
    est = LinearAETransformer(2).fit(wine)
    skae.save(est, tmp_path / "est.skae")
    _rewrite(tmp_path / "est.skae", _as_written_by("0.2.0", dependencies=_installed()))
    with pytest.warns(InconsistentVersionWarning) as record:
        loaded = skae.load(tmp_path / "est.skae")
    (warning,) = record
    assert warning.message.written == {"skae": "0.2.0"}
    assert warning.message.current == {"skae": skae.__version__}
    np.testing.assert_array_equal(loaded.transform(wine), est.transform(wine))


def test_a_model_that_reconstructs_its_data_exactly_continues_training():
    # its first loss was round-off (2e-15) and the next batch's 4e-6: a growth of
    # 1e9 that the divergence check took for a fit blowing up
    est = skae.load(FILES / "0.2.0" / "linear-minibatch.skae")
    probe = np.load(FILES / "0.2.0" / "linear-minibatch.npz")["probe"]
    est.set_params(warm_start=True, max_iter=2).partial_fit(probe)
    assert est.fit(probe).n_iter_ > 0


def test_the_version_warning_survives_pickling_as_a_worker_s_error_must():
    # a strict load (the warning as an error) in a joblib worker ended in
    # BrokenProcessPool: the warning could not be unpickled without its arguments
    import copy
    import pickle

    warning = InconsistentVersionWarning("differs", {"skae": "0.2.0"}, {"skae": "0.3.0"})
    for copied in (pickle.loads(pickle.dumps(warning)), copy.deepcopy(warning)):
        assert type(copied) is InconsistentVersionWarning
        assert str(copied) == "differs"
        assert (copied.written, copied.current) == (warning.written, warning.current)


def test_an_estimator_pickled_by_another_release_warns_as_scikit_learn_s_do(saved):
    # a pickle of 0.2.0 unpickled without a word and failed at its first transform
    # (no attribute 'categorical_features')
    import copy
    import pickle

    _, est = saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # this release's own pickles and copies: silent
        again = pickle.loads(pickle.dumps(est))
        copy.deepcopy(est)
    assert "_skae_version" not in vars(again)
    for written, named in [("0.2.0", "skae 0.2.0"), (None, "did not record its release")]:
        state = est.__getstate__()
        if written is None:
            del state["_skae_version"]
        else:
            state["_skae_version"] = written
        unpickled = AutoencoderTransformer.__new__(AutoencoderTransformer)
        with pytest.warns(InconsistentVersionWarning, match=named) as record:
            unpickled.__setstate__(state)
        assert record[0].message.written == {"skae": written}
        assert record[0].message.current == {"skae": skae.__version__}
        assert "_skae_version" not in vars(unpickled)


def test_a_file_of_this_version_without_its_dependencies_warns_that_they_are_unknown(saved):
    # it loaded silently, its dependencies' releases never compared
    path, _ = saved
    _rewrite(path, lambda document: document.pop("dependencies"))
    with pytest.warns(InconsistentVersionWarning, match="which did not record its dependencies"):
        skae.load(path)
