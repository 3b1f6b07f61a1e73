"""skae: autoencoders that are real scikit-learn estimators."""

from ._autoencoder import AutoencoderOutlierDetector, AutoencoderTransformer
from ._linear import LinearAETransformer
from ._modules import ConvAutoencoder, MLPAutoencoder

__all__ = [
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "ConvAutoencoder",
    "LinearAETransformer",
    "MLPAutoencoder",
]
__version__ = "0.1.0"
