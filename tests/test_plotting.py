"""The matplotlib helpers return figures and never show them."""

import sys

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.base import BaseEstimator
from sklearn.neural_network import MLPRegressor

from skae import AutoencoderTransformer, LinearAETransformer, VAETransformer
from skae.plotting import _grid_shape, plot_embedding, plot_loss_curve, plot_reconstructions

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits(digits01, digits_labels):
    return digits01[:300], digits_labels[:300]


def test_loss_curve_shows_train_and_validation(digits):
    ae = AutoencoderTransformer(max_iter=4, early_stopping=True, random_state=0).fit(digits[0])
    fig = plot_loss_curve(ae)
    assert isinstance(fig, Figure)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["train", "validation"]
    np.testing.assert_allclose(lines[0].get_ydata(), ae.loss_curve_)
    np.testing.assert_allclose(lines[1].get_ydata(), -np.array(ae.validation_scores_))


def test_reconstructions_are_three_rows_with_codes_as_rectangles(digits):
    ae = AutoencoderTransformer(6, max_iter=2, random_state=0).fit(digits[0])
    fig = plot_reconstructions(ae, digits[0], (8, 8), n=4)
    assert len(fig.axes) == 12
    shapes = [ax.get_images()[0].get_array().shape for ax in fig.axes]
    assert shapes[:4] == [(8, 8)] * 4 and shapes[4:8] == [(2, 3)] * 4
    np.testing.assert_allclose(
        fig.axes[8].get_images()[0].get_array(),
        ae.inverse_transform(ae.transform(digits[0][:1])).reshape(8, 8),
        rtol=1e-6,
    )


@pytest.mark.parametrize("n, shape", [(36, (6, 6)), (8, (2, 4)), (16, (4, 4)), (7, (1, 7))])
def test_grid_shape_is_the_most_square_rectangle(n, shape):
    assert _grid_shape(n) == shape


def test_embedding_scatters_the_first_two_codes(digits):
    X, y = digits
    lae = LinearAETransformer(3, random_state=0).fit(X)
    fig = plot_embedding(lae, X, y)
    offsets = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, lae.transform(X)[:, :2])
    with pytest.raises(ValueError, match="at least 2 components"):
        plot_embedding(LinearAETransformer(1, random_state=0).fit(X), X, y)


def test_missing_matplotlib_is_a_clear_error(digits, monkeypatch):
    lae = LinearAETransformer(random_state=0).fit(digits[0])
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'skae\[plot\]'"):
        plot_loss_curve(lae)


class _LossStub(BaseEstimator):
    """Just what plot_loss_curve reads from a fitted skae estimator."""

    _loss_label = "negative ELBO (nats per sample)"
    loss_curve_ = [3.0, 2.0, 1.5]
    validation_scores_ = [-3.5, -2.5, -2.0]

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self):
        return True


def test_loss_curve_is_labelled_by_the_estimators_loss_label():
    fig = plot_loss_curve(_LossStub())
    ax = fig.axes[0]
    assert ax.get_ylabel() == "negative ELBO (nats per sample)"
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [3.5, 2.5, 2.0])


@pytest.mark.parametrize(
    "estimator, label",
    [
        (VAETransformer(2, max_iter=2, random_state=0), "negative ELBO (nats per sample)"),
        (
            AutoencoderTransformer(
                2, loss="bce", output_activation="sigmoid", max_iter=2, random_state=0
            ),
            "binary cross-entropy",
        ),
        (AutoencoderTransformer(2, max_iter=2, random_state=0), "mean squared error"),
    ],
    ids=["vae", "bce", "default"],
)
def test_loss_curve_label_names_each_estimators_loss(digits, estimator, label):
    fig = plot_loss_curve(estimator.fit(digits[0]))
    assert fig.axes[0].get_ylabel() == label


def test_loss_curve_of_a_foreign_estimator_is_the_training_loss(digits):
    X, _ = digits
    mlp = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, X[:, 0])
    fig = plot_loss_curve(mlp)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "training loss"
    assert [line.get_label() for line in ax.get_lines()] == ["train"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), mlp.loss_curve_)
    # MLP's validation_scores_ are R^2 scores, not losses: they are not drawn as one
    mlp.set_params(early_stopping=True).fit(X, X[:, 0])
    assert len(plot_loss_curve(mlp).axes[0].get_lines()) == 1


_AE_AND_LINEAR = [
    pytest.param(lambda: AutoencoderTransformer(6, max_iter=2, random_state=0), id="ae"),
    pytest.param(lambda: LinearAETransformer(6, random_state=0), id="linear"),
]


@pytest.mark.parametrize("make", _AE_AND_LINEAR)
@pytest.mark.parametrize("output", ["pandas", "polars"])
def test_plots_accept_dataframe_output(digits, make, output):
    X, y = digits
    pytest.importorskip(output)
    estimator = make().fit(X)
    Z = estimator.transform(X)
    estimator.set_output(transform=output)
    fig = plot_reconstructions(estimator, X, (8, 8), n=4)
    np.testing.assert_allclose(fig.axes[4].get_images()[0].get_array(), Z[0].reshape(2, 3))
    np.testing.assert_allclose(
        fig.axes[8].get_images()[0].get_array(),
        estimator.inverse_transform(Z[:1]).reshape(8, 8),
        rtol=1e-6,
    )
    offsets = plot_embedding(estimator, X, y).axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, Z[:, :2])


@pytest.mark.parametrize("make", _AE_AND_LINEAR)
@pytest.mark.parametrize("frame", ["pandas", "polars"])
def test_plots_accept_a_dataframe_as_X(digits, make, frame):
    X, y = digits
    module = pytest.importorskip(frame)
    columns = [f"pixel{i}" for i in range(X.shape[1])]
    X_frame = module.DataFrame(dict(zip(columns, X.T, strict=True)))
    estimator = make().fit(X_frame)
    Z = estimator.transform(X_frame)
    estimator.set_output(transform=frame)
    fig = plot_reconstructions(estimator, X_frame, (8, 8), n=3)
    np.testing.assert_allclose(fig.axes[0].get_images()[0].get_array(), X[0].reshape(8, 8))
    np.testing.assert_allclose(fig.axes[3].get_images()[0].get_array(), Z[0].reshape(2, 3))
    offsets = plot_embedding(estimator, X_frame, y).axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, Z[:, :2])


def test_a_missing_pixel_leaves_the_gray_scale_of_the_observed_ones(digits):
    # the scale's ends were X.min() and X.max(), NaN with one hole: two rows blank
    X = digits[0].copy()
    ae = AutoencoderTransformer(4, max_iter=2, random_state=0).fit(X)
    X[0, 3] = np.nan
    fig = plot_reconstructions(ae, X, (8, 8), n=3)
    for ax in (fig.axes[0], fig.axes[6]):
        assert np.isfinite(ax.get_images()[0].get_clim()).all()
    # the rows shown of a sparse matrix are densified
    import scipy.sparse as sp

    sparse = plot_reconstructions(ae, sp.csr_matrix(digits[0]), (8, 8), n=2)
    assert sparse.axes[0].get_images()[0].get_array().shape == (8, 8)
    with pytest.raises(ValueError, match="n must be a positive int"):
        plot_reconstructions(ae, X, (8, 8), n=0)


def test_plots_refuse_an_estimator_without_codes_and_take_any_labels(digits):
    from skae import AutoencoderImputer

    X, y = digits
    imputer = AutoencoderImputer(n_components=4, max_iter=2, random_state=0).fit(X)
    for plot in (plot_embedding, plot_reconstructions):
        with pytest.raises(TypeError, match="AutoencoderImputer has none"):
            plot(imputer, X, *([y] if plot is plot_embedding else [(8, 8)]))
    with pytest.raises(ValueError, match="no component to draw"):
        plot_reconstructions(LinearAETransformer(0).fit(X), X, (8, 8))
    # string labels, one color per class (matplotlib refused them as colors)
    names = np.array(list("abcdefghij"))[y]
    fig = plot_embedding(LinearAETransformer(2, random_state=0).fit(X), X, names)
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert labels == list("abcdefghij")


def test_the_loss_axis_names_the_loss_the_network_was_fitted_with():
    # it read the parameters as they were at the call: set after fit, they named
    # another loss than the curve's; categorical columns' cross-entropy went unnamed
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).random((40, 6))
    ae = AutoencoderTransformer(2, max_iter=2, n_iter_no_change=None, random_state=0).fit(X)
    ae.set_params(loss="bce", output_activation="sigmoid", sparsity=0.1)
    assert plot_loss_curve(ae).axes[0].get_ylabel() == "mean squared error"
    frame = pd.DataFrame({"c": pd.Categorical(list("xyz") * 10 + list("xy") * 5), "x": X[:, 0]})
    ae = AutoencoderTransformer(2, categorical_features="from_dtype", max_iter=2, random_state=0)
    label = plot_loss_curve(ae.fit(frame)).axes[0].get_ylabel()
    assert label == "mean squared error and cross-entropy of the categorical columns"
    label = plot_loss_curve(ae.fit(frame[["c"]])).axes[0].get_ylabel()
    assert label == "cross-entropy of the categorical columns"


def test_reconstructions_refuse_categories_and_an_image_shape_of_other_features():
    # numpy's reshape error, matplotlib's "Invalid shape", or a comparison of a
    # float with a category came from deep inside
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).random((30, 16))
    ae = AutoencoderTransformer(2, max_iter=2, random_state=0).fit(X)
    for shape in [(5, 5), (16,), 16, (2, 2, 4)]:
        with pytest.raises(ValueError, match=r"image_shape must be .height, width. with"):
            plot_reconstructions(ae, X, shape)
    frame = pd.DataFrame(X[:, :3], columns=list("abc")).assign(c=pd.Categorical(["u", "v"] * 15))
    ae = AutoencoderTransformer(2, categorical_features="from_dtype", max_iter=2).fit(frame)
    with pytest.raises(ValueError, match="has categorical columns"):
        plot_reconstructions(ae, frame, (2, 2))
