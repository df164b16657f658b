"""The ``pfnr`` video model: a library of videos in one network and one append-only file,
each video a masked subnetwork of the shared weights (PFNR / WSN).

network.py: the network and its config; subnet.py: masks (selection, frozen weights, mask
coding); fit.py: the size planner and training on the shared fit loop; codec.py: the
registered codec (file sections, decoding); method.py: options and the registered method.
"""

from codec.video.pfnr.codec import PFNRCodec, VideoEntry, known_weights
from codec.video.pfnr.fit import RECIPE, Recipe, SubnetTrainer, fit_video, plan_config
from codec.video.pfnr.method import PFNRMethod, PFNROptions
from codec.video.pfnr.network import PFNRConfig, forward, init_tensors, inputs, spectral_up

__all__ = ["RECIPE", "PFNRCodec", "PFNRConfig", "PFNRMethod", "PFNROptions", "Recipe",
           "SubnetTrainer", "VideoEntry", "fit_video", "forward", "init_tensors", "inputs",
           "known_weights", "plan_config", "spectral_up"]
