"""The losses of skae's autoencoders, in torch only: what training minimizes and
what the reconstruction scores measure.

Every function works from the decoder's raw output (logits for a Bernoulli model),
so a sigmoid and a cross-entropy are fused into one numerically stable kernel.

Each loss takes the rows' weights of a weighted fit (normalized by the training
call to average 1, so that a weighted loss is on the scale of an unweighted one and
weights of ones change nothing, bit for bit): each row's terms are multiplied by
its weight before the batch mean, and the rows of weight zero are replaced by
zeros before any term is computed, so that neither the loss nor its gradient
depends on what they hold.

A target may also be a ``_Sample`` (reconstruction sampling of sparse rows): the
raw output is then its entries only, and each row's mean (or total) over its
features is estimated, without bias, from them.
"""

import math

import torch
from torch.nn import functional as F

from ._missing import _observed_entries, _observed_mean, _observed_total
from ._sampling import _Sample


def _outside_unit_interval(x):
    """Per row: whether a value lies outside [0, 1], where a Bernoulli model gives
    no likelihood."""
    return ((x < 0) | (x > 1)).any(dim=1)


def _bernoulli_divergence(logits, x):
    """Per-row mean of ``KL(Bernoulli(x) || Bernoulli(sigmoid(logits)))`` over the
    observed entries of ``x`` (NaN: missing): the cross-entropy minus the entropy
    of ``x``, so that a perfect reconstruction scores 0 however many grey values
    ``x`` has; ``inf`` for a row with a value outside [0, 1], which has no
    likelihood under that model."""
    outside = _outside_unit_interval(x)
    x, observed = _observed_entries(x)
    cross_entropy = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    entropy = -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x))
    divergence = _observed_mean((cross_entropy - entropy).clamp_min(0), observed)
    return divergence.masked_fill(outside, float("inf"))


def _without_unweighted_rows(weight, *tensors):
    """The ``tensors`` (one row per sample, first axis) with the rows of weight
    zero replaced by zeros, before any term of the loss is computed from them.

    Multiplying a row's terms by its zero weight is not enough: a row that makes a
    term infinite (the exponential of a huge log-variance, the square of a huge
    error) gives ``0 x inf = NaN`` in the loss, and in its gradient even where the
    value is masked, since the derivative of ``exp`` is multiplied by the zero that
    flows back. ``torch.where`` passes an exact zero gradient to the rows it does
    not select, and the terms of the zeros it selects instead are finite.
    """
    if weight is None:
        return tensors
    keep = weight > 0
    return tuple(torch.where(keep.view(-1, *(1,) * (t.dim() - 1)), t, 0) for t in tensors)


def _mean(values):
    """The mean of every entry of ``values`` (float32 or float64: the loss is taken
    in the module's dtype, see ``_AutoencoderNet.get_loss``), with a cheaper
    gradient: the backward pass of ``mean`` writes the gradient's share into a new
    tensor of the input's shape (a division per entry, 7 % of a seed-recipe step's
    instructions), that of a sum divided by a number passes one number on as a view
    of that shape. On the CPU the value and gradient are ``mean``'s to the bit (it
    divides the sum too); a GPU's ``mean`` multiplies by the count's reciprocal, so
    there they may differ from it in the last bit. A bfloat16 or float16 sum would
    round (or overflow) before the division, unlike ``mean``."""
    return values.sum() / values.numel()


def _in_dtype(weight, dtype):
    """``weight`` in the loss's ``dtype`` (None stays None), before any row is
    tested for a zero weight: a weight too small for a float32 loss is zero there,
    and must be cleared as one."""
    return None if weight is None else weight.to(dtype)


def _weighted(values, weight):
    """``values`` (one row per sample, first axis) with each row multiplied by its
    ``weight`` (in their dtype: ``_in_dtype``); ``values`` itself where there are
    no weights. The rows of weight zero must have been cleared first
    (``_without_unweighted_rows``)."""
    if weight is None:
        return values
    return values * weight.view(-1, *(1,) * (values.dim() - 1))


def _negative_log_likelihood(raw, x, likelihood):
    """Elementwise ``-log p(x | z)`` from the decoder's raw output: Bernoulli
    logits, or the mean of a Gaussian of unit variance."""
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(raw, x, reduction="none")
    return 0.5 * (x - raw) ** 2 + 0.5 * math.log(2 * math.pi)


def _unknown_marks(x):
    """``(x, unknown)``: a scored batch with the +inf that marks a category unseen
    in training (in each entry of its one-hot block, see
    ``_Categorical._validate_scored``) made NaN, as a missing entry enters the
    encoder, and the mask of the marks (None where there are none). A numeric
    entry is never infinite: validation refuses infinity."""
    unknown = torch.isposinf(x)
    if not unknown.any():
        return x, None
    return x.masked_fill(unknown, float("nan")), unknown


def _by_column(terms, raw, target, observed, categories, unknown=None, surprise=None):
    """``(terms, observed)`` per original column: the elementwise ``terms`` (and
    ``observed`` mask, or None) of the numeric columns, which come first, followed
    by one column per categorical block of the widths ``categories``, whose term is
    the cross-entropy of the block's one-hot ``target`` (NaN already zeroed) under
    the softmax of its logits in ``raw``. Without ``categories``, ``terms`` and
    ``observed`` themselves, so that a purely numeric loss is computed as before.

    ``unknown`` (a mask of ``raw``'s shape, or None) marks the blocks of categories
    unseen in training (see ``_unknown_marks``): such a column is observed, and its
    term is the cross-entropy of the block's least probable category, or the
    block's ``surprise`` (a tensor of one value per block) where that is larger."""
    if not categories:
        return terms, observed
    n_numeric = raw.shape[1] - sum(categories)
    columns, seen, start = [terms[:, :n_numeric]], [], n_numeric
    for block, width in enumerate(categories):
        logits, onehot = raw[:, start : start + width], target[:, start : start + width]
        normalizer = torch.logsumexp(logits, dim=1)
        entropy = normalizer - (logits * onehot).sum(dim=1)
        if observed is not None:
            seen.append(observed[:, start : start + 1])
        if unknown is not None:
            # an unknown category's NaN mark left its block unobserved
            new = unknown[:, start : start + 1]
            least = (normalizer - logits.min(dim=1).values).clamp_min(surprise[block])
            entropy = torch.where(new[:, 0], least, entropy)
            seen[-1] = seen[-1] | new
        columns.append(entropy[:, None])
        start += width
    if observed is not None:
        observed = torch.cat([observed[:, :n_numeric], *seen], dim=1)
    return torch.cat(columns, dim=1), observed


def _kl_to_standard_normal(mean, log_var):
    """Per-row ``KL(N(mean, exp(log_var)) || N(0, I))``."""
    return 0.5 * (torch.exp(log_var) + mean**2 - 1 - log_var).sum(dim=1)


class _ReconstructionLoss(torch.nn.Module):
    """Mean reconstruction loss from the decoder's raw output, plus a sparsity penalty.

    With ``loss="bce"`` and a sigmoid output, the raw output is the logit, and
    ``binary_cross_entropy_with_logits`` computes the same value as a sigmoid
    followed by ``BCELoss``, in one fused and numerically stable kernel.

    With ``categories`` (the widths of the categorical columns' one-hot blocks,
    after the numeric columns), each block is a softmax head trained with its
    cross-entropy, and a row's loss is the mean over its original columns: a
    categorical column counts once, as a numeric one does (see skae._categorical).

    ``y_pred`` is ``(raw, codes)`` as ``_AutoencoderNet.infer`` returns it. A
    positive ``sparsity`` adds ``sparsity`` times the mean absolute code (L1) or,
    with a ``sparsity_target`` rho, the summed KL divergence between rho and each
    code unit's mean activation over the batch. ``weight`` weighs the rows of the
    batch in each of these means.
    """

    def __init__(
        self,
        loss="mse",
        output_activation="identity",
        sparsity=0.0,
        sparsity_target=None,
        categories=(),
    ):
        super().__init__()
        self.categories = categories
        self.loss = loss
        self.output_activation = output_activation
        self.sparsity = sparsity
        self.sparsity_target = sparsity_target

    def forward(self, y_pred, target, weight=None):
        raw, codes = y_pred
        weight = _in_dtype(weight, raw.dtype)
        if isinstance(target, _Sample):
            (codes,) = _without_unweighted_rows(weight, codes)
            errors = target.row_means(self._errors(*target.entries(raw, weight)))
            return self._total(errors, codes, weight)
        target, observed = _observed_entries(target.to(raw.dtype))
        raw, codes, target = _without_unweighted_rows(weight, raw, codes, target)
        errors = self._errors(raw, target)
        errors, observed = _by_column(errors, raw, target, observed, self.categories)
        if observed is not None:
            # each row's mean over its observed entries: a row with holes weighs
            # as much as a complete one
            errors = _observed_mean(errors, observed)
        return self._total(errors, codes, weight)

    def _errors(self, raw, target):
        """The elementwise loss of the raw output against the target."""
        if self.loss == "bce":
            return F.binary_cross_entropy_with_logits(raw, target, reduction="none")
        if self.output_activation == "sigmoid":
            return F.mse_loss(torch.sigmoid(raw), target, reduction="none")
        return F.mse_loss(raw, target, reduction="none")

    def _total(self, errors, codes, weight):
        """The loss of the batch from each row's mean error ``errors``."""
        value = _mean(_weighted(errors, weight))
        if self.sparsity > 0:
            value = value + self.sparsity * self._sparsity_penalty(codes, weight)
        return value

    def _sparsity_penalty(self, codes, weight):
        if self.sparsity_target is None:
            return _weighted(codes.abs(), weight).mean()
        rho = self.sparsity_target
        # each code unit's mean activation over the batch: a weighted mean
        if weight is None:
            rho_hat = codes.mean(dim=0)
        else:
            total = weight.sum().clamp_min(torch.finfo(codes.dtype).tiny)
            rho_hat = _weighted(codes, weight).sum(dim=0) / total
        rho_hat = rho_hat.clamp(1e-6, 1 - 1e-6)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return kl.sum()


class _NegativeELBO(torch.nn.Module):
    """Mean over the batch of the negative evidence lower bound, in nats per sample:
    the reconstruction's negative log-likelihood plus ``beta`` times the KL
    divergence of the posterior from the standard normal prior; a weighted mean
    with the rows' ``weight``. The columns of ``categories`` (one-hot blocks after
    the numeric columns) have a categorical likelihood, the softmax of their
    logits."""

    def __init__(self, likelihood="gaussian", beta=1.0, categories=()):
        super().__init__()
        self.categories = categories
        self.likelihood = likelihood
        self.beta = beta

    def forward(self, y_pred, target, weight=None):
        weight = _in_dtype(weight, y_pred[0].dtype)
        if isinstance(target, _Sample):
            mean, log_var = _without_unweighted_rows(weight, *y_pred[1:])
            raw, values = target.entries(y_pred[0], weight)
            terms = _negative_log_likelihood(raw, values, self.likelihood)
            nll = target.row_means(terms) * target.n_features
        else:
            raw, mean, log_var = _without_unweighted_rows(weight, *y_pred)
            target, observed = _observed_entries(target.to(raw.dtype))
            target = _without_unweighted_rows(weight, target)[0]
            terms = _negative_log_likelihood(raw, target, self.likelihood)
            nll = _observed_total(*_by_column(terms, raw, target, observed, self.categories))
        return _weighted(nll + self.beta * _kl_to_standard_normal(mean, log_var), weight).mean()
