"""skae: autoencoders that are real scikit-learn estimators."""

from ._autoencoder import AutoencoderTransformer
from ._linear import LinearAETransformer
from ._modules import MLPAutoencoder

__all__ = ["AutoencoderTransformer", "LinearAETransformer", "MLPAutoencoder"]
__version__ = "0.1.0"
