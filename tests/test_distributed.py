"""Data-parallel training on two CPU processes (gloo), started as torchrun starts
them: one model, the same on both ranks, equal to the one-process fit."""

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from skae import AutoencoderTransformer
from skae._outlier import _quantile

from . import _ddp_worker as worker

WORKER = Path(worker.__file__)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the two ranks fitted and raised."""
    out = tmp_path_factory.mktemp("ddp")
    env = os.environ | {
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        # one thread per rank: two ranks on two cores
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(WORKER.parents[1]),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(out)],
            env=env | {"RANK": str(rank), "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = [p.communicate(timeout=240)[0] for p in processes]
    for p, output in zip(processes, outputs, strict=True):
        assert p.returncode == 0, output
    return [
        (dict(np.load(out / f"rank{r}.npz")), json.loads((out / f"rank{r}.json").read_text()))
        for r in range(2)
    ]


def test_two_ranks_train_the_one_process_model(ranks):
    # the same global batch (each rank's whole shard, so the order does not
    # matter), float64, SGD: the weights of one process on all the rows
    X = worker.data()
    single = AutoencoderTransformer(**worker.sgd_params(len(X))).fit(X)
    for result, _ in ranks:
        np.testing.assert_allclose(result["sgd_codes"], single.transform(X), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(result["sgd_loss"], single.loss_curve_, rtol=1e-6)


def test_rows_with_holes_train_the_one_process_model(ranks):
    # fill values from both ranks' observed entries, and the masked loss's
    # gradients averaged as the one process computes them
    holes = worker.with_holes(worker.data())
    single = AutoencoderTransformer(**worker.sgd_params(len(holes))).fit(holes)
    for result, _ in ranks:
        np.testing.assert_allclose(result["holes_fill"], np.nanmean(holes, axis=0), rtol=1e-12)
        np.testing.assert_allclose(
            result["holes_codes"], single.transform(holes), rtol=1e-6, atol=1e-9
        )


@pytest.mark.parametrize(
    "name",
    [
        "holes_codes",
        "sgd_weights",
        "adam_codes",
        "pretrained_codes",
        "vae_codes",
        "detector_scores",
        "cosine_weights",
        "same_parameters_codes",
    ],
)
def test_every_rank_holds_the_same_model(ranks, name):
    (first, _), (second, _) = ranks
    np.testing.assert_array_equal(first[name], second[name])


def test_early_stopping_stops_every_rank_at_the_same_epoch_on_the_global_loss(ranks):
    (first, _), (second, _) = ranks
    np.testing.assert_array_equal(first["adam_loss"], second["adam_loss"])
    np.testing.assert_array_equal(first["adam_validation"], second["adam_validation"])
    assert len(first["adam_loss"]) < worker.ADAM["max_iter"]  # it did stop early
    # Adam on minibatches: not the one-process path, but a model as good
    X = worker.data()
    single = AutoencoderTransformer(**worker.ADAM).fit(X)
    assert first["adam_loss"][-1] == pytest.approx(single.loss_curve_[-1], rel=0.25)


def test_the_detectors_threshold_is_the_quantile_of_every_ranks_scores(ranks):
    # the two shards together are all the rows, which each rank scored
    for result, _ in ranks:
        expected = _quantile(result["detector_scores"], 0.1)
        assert result["detector_offset"][0] == pytest.approx(expected, rel=1e-6)


def test_weights_far_apart_on_one_rank_train_one_model(ranks):
    (first, first_errors), (second, second_errors) = ranks
    assert "tiny_weights" not in first_errors and "tiny_weights" not in second_errors
    np.testing.assert_array_equal(first["tiny_weights_codes"], second["tiny_weights_codes"])


def test_a_device_one_rank_lacks_makes_every_rank_raise_at_once(ranks):
    (_, first), (_, second) = ranks
    assert first["device"][0] == "RuntimeError"
    assert "the fit failed on rank(s) [1]" in first["device"][1]
    assert second["device"][0] == "ValueError" and "device='meta'" in second["device"][1]
    assert first["device"][2] < 5 and second["device"][2] < 5


def test_bad_data_on_one_rank_makes_every_rank_raise_at_once(ranks):
    (first, first_errors), (second, second_errors) = ranks
    assert first_errors["bad_data"][0] == "RuntimeError"
    assert "rank(s) [1]" in first_errors["bad_data"][1]
    assert (
        second_errors["bad_data"][0] == "ValueError" and "infinity" in second_errors["bad_data"][1]
    )
    assert max(first_errors["bad_data"][2], second_errors["bad_data"][2]) < 5
    assert first["bad_data_unchanged"][0] and second["bad_data_unchanged"][0]


@pytest.mark.parametrize("name", ["empty_row", "outside"])
def test_a_rank_whose_rows_fail_a_check_makes_every_rank_raise_at_once(ranks, name):
    (_, first_errors), (_, second_errors) = ranks
    assert first_errors[name][0] == "RuntimeError" and "rank(s) [1]" in first_errors[name][1]
    assert second_errors[name][0] == "ValueError"
    assert max(first_errors[name][2], second_errors[name][2]) < 5  # not the group's timeout


def test_a_split_one_rank_cannot_make_makes_every_rank_raise_at_once(ranks):
    # the split is drawn as training starts: the rank that could not make it raised
    # alone, and the other waited in the first step until the group's timeout
    (_, first_errors), (_, second_errors) = ranks
    assert first_errors["split"][0] == "RuntimeError" and "rank(s) [1]" in first_errors["split"][1]
    assert (
        second_errors["split"][0] == "ValueError"
        and "validation_fraction" in (second_errors["split"][1])
    )
    assert max(first_errors["split"][2], second_errors["split"][2]) < 5


def test_pretraining_s_weight_check_makes_every_rank_raise_at_once(ranks):
    # the rank whose training rows weighed nothing raised alone before pretraining,
    # and the other waited in pretraining's first step
    (_, first_errors), (_, second_errors) = ranks
    first, second = first_errors["pretraining"], second_errors["pretraining"]
    assert first[0] == "RuntimeError" and "rank(s) [1]" in first[1]
    assert second[0] == "ValueError" and "rows of positive sample_weight=1" in second[1]
    assert max(first[2], second[2]) < 5


def test_ranks_that_would_continue_different_models_all_raise(ranks):
    # each rank continued its own weights, and the ranks ended with two models
    for _, errors in ranks:
        kind, message = errors["continued"]
        assert kind == "ValueError" and "continued differs between the ranks" in message


def test_the_imputer_is_refused_in_a_process_group_on_every_rank(ranks):
    for _, errors in ranks:
        kind, message = errors["imputer"]
        assert kind == "ValueError" and "does not train across the ranks" in message


def test_an_interrupt_on_one_rank_makes_every_rank_raise_and_keep_its_model(ranks):
    (first, first_errors), (second, second_errors) = ranks
    assert second_errors["interrupt"][0] == "KeyboardInterrupt"
    # rank 0 was waiting for rank 1's gradients: rank 1 tells it that its step
    # failed, and it raises at once; it waited out the group's timeout (10 s here),
    # which left the group broken
    kind, message, seconds = first_errors["interrupt"]
    assert kind == "RuntimeError" and "failed on 1 other rank" in message
    assert seconds < 8
    assert first["interrupt_unchanged"][0] and second["interrupt_unchanged"][0]
    for result, _ in ranks:
        np.testing.assert_array_equal(result["after_interrupt_codes"], result["sgd_codes"])


@pytest.mark.parametrize(
    "name", ["n_components", "max_iter", "precision", "columns", "partial_fit"]
)
def test_ranks_that_disagree_all_raise_before_training_naming_what_differs(ranks, name):
    for _, errors in ranks:
        kind, message = errors[f"disagree_{name}"]
        assert kind == "ValueError"
        what = "feature_names_in_" if name == "columns" else name
        assert f"{what} differs between the ranks" in message


def test_ranks_fitting_estimators_of_two_classes_all_raise_saying_so(ranks):
    for _, errors in ranks:
        kind, message = errors["disagree_class"]
        assert kind == "ValueError"
        assert "class or its parameters' names differ between the ranks" in message


def test_a_digest_beside_a_number_is_not_shown_as_a_value(ranks):
    for _, errors in ranks:
        kind, message = errors["disagree_sparsity_target"]
        assert kind == "ValueError" and "sparsity_target differs between the ranks" in message
        assert "group." in message and "[" not in message


def test_several_launched_processes_without_a_process_group_warn(wine, monkeypatch):
    # torchrun's environment, but no init_process_group: each process would train
    # a model of its own
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.warns(RuntimeWarning, match="init_process_group") as record:
        AutoencoderTransformer(2, max_iter=1, random_state=0).fit(wine)
    assert [w.filename for w in record if w.category is RuntimeWarning] == [__file__]
    # a WORLD_SIZE that no launcher set is not a reason to fail or warn
    for value in ("1", "abc", ""):
        monkeypatch.setenv("WORLD_SIZE", value)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            AutoencoderTransformer(2, max_iter=1, random_state=0).fit(wine)


def test_outside_a_process_group_nothing_changes(wine):
    from skae._distributed import _group_size

    assert _group_size() == 1
    a = AutoencoderTransformer(2, max_iter=3, random_state=0).fit(wine)
    b = AutoencoderTransformer(2, max_iter=3, random_state=0).fit(wine)
    np.testing.assert_array_equal(a.transform(wine), b.transform(wine))
