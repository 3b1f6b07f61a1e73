"""skae: autoencoders that are real scikit-learn estimators."""

from ._autoencoder import AutoencoderOutlierDetector, AutoencoderTransformer
from ._impute import AutoencoderImputer
from ._linear import LinearAETransformer
from ._modules import ConvAutoencoder, MLPAutoencoder
from ._persistence import load, save
from ._show_versions import show_versions
from ._vae import VAEOutlierDetector, VAETransformer
from ._version import InconsistentVersionWarning
from ._version import __version__ as __version__

__all__ = [
    "AutoencoderImputer",
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "ConvAutoencoder",
    "InconsistentVersionWarning",
    "LinearAETransformer",
    "MLPAutoencoder",
    "VAEOutlierDetector",
    "VAETransformer",
    "load",
    "save",
    "show_versions",
]
