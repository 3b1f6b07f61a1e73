"""The matplotlib helpers return figures and never show them."""

import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from skae import AutoencoderTransformer, LinearAETransformer
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
