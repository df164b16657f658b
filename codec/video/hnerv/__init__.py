"""The ``hnerv`` video model (the default): a ConvNeXt encoder makes a tiny embedding per
frame and a conv + PixelShuffle decoder turns it back into the frame (Chen et al., CVPR 2023).

network.py: the network, its config and the size planner; fit.py: training on the shared fit
loop and quantization-aware fine-tuning; codec.py: the registered codec (file sections,
decoding); method.py: options and the registered method.
"""

from codec.video.hnerv.codec import HNeRVCodec
from codec.video.hnerv.fit import (
    MAX_ATTEMPTS,
    RECIPE,
    DivergenceGuard,
    FrameTrainer,
    QATTrainer,
    Recipe,
    fine_tune_quantized,
    fit_clip,
    train,
)
from codec.video.hnerv.method import HNeRVMethod, HNeRVOptions
from codec.video.hnerv.network import (
    HNeRV,
    HNeRVConfig,
    HNeRVDecoder,
    HNeRVEncoder,
    plan_strides,
    solve_channels,
)

__all__ = ["MAX_ATTEMPTS", "RECIPE", "DivergenceGuard", "FrameTrainer", "HNeRV", "HNeRVCodec",
           "HNeRVConfig", "HNeRVDecoder", "HNeRVEncoder", "HNeRVMethod", "HNeRVOptions",
           "QATTrainer", "Recipe", "fine_tune_quantized", "fit_clip", "plan_strides",
           "solve_channels", "train"]
