"""Every public class and function documents its parameters, in signature order, as
scikit-learn's ``test_docstring_parameters.py`` asks of its own estimators."""

import inspect

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc

import skae
import skae.datasets
import skae.metrics
import skae.plotting
from skae._docstrings import _fill_doc

from ._instances import public_estimator_classes

METHODS = [
    "fit",
    "partial_fit",
    "transform",
    "inverse_transform",
    "score_samples",
    "score",
    "decision_function",
    "predict",
    "sample",
    "get_covariance",
    "get_precision",
]


def _public_callables():
    for module in (skae, skae.datasets, skae.metrics, skae.plotting):
        for name in getattr(module, "__all__", None) or dir(module):
            value = getattr(module, name)
            if name.startswith("_") or getattr(value, "__module__", "").split(".")[0] != "skae":
                continue
            if inspect.isfunction(value):
                yield f"{module.__name__}.{name}", value
    for cls in public_estimator_classes():
        yield cls.__name__, cls
        for method in METHODS:
            if hasattr(cls, method):
                yield f"{cls.__name__}.{method}", getattr(cls, method)


def _documented(value):
    doc = ClassDoc(value) if inspect.isclass(value) else FunctionDoc(value)
    return [p.name.split(":")[0].strip() for p in doc["Parameters"]]


def _signature(value):
    function = value.__init__ if inspect.isclass(value) else value
    return [
        name
        for name, p in inspect.signature(function).parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


# ids by name only: an object's repr holds its address, which differs between the
# processes of a parallel run
@pytest.mark.parametrize(
    "name, value", list(_public_callables()), ids=[name for name, _ in _public_callables()]
)
def test_every_parameter_is_documented_in_signature_order(name, value):
    assert _documented(value) == _signature(value), name


def test_public_estimators_document_their_fitted_attributes():
    for cls in public_estimator_classes():
        documented = {a.name.split(":")[0].strip() for a in ClassDoc(cls)["Attributes"]}
        # what skae.load checks is what a fit sets: each of it is documented
        assert set(cls._fitted_state) <= documented, cls.__name__


def test_fill_doc_leaves_a_class_without_docstring_alone():
    # python -OO strips docstrings; the decorator must not fail on them
    class Stripped:
        pass

    assert _fill_doc(alpha="0")(Stripped).__doc__ is None

    class Documented:
        """Text.

        {offset}
        """

    assert "Threshold on ``score_samples``" in _fill_doc()(Documented).__doc__
