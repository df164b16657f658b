"""The ``nirvana`` video model: one small network per group of frames, warm-started from the
group before, coded intra or as a residual, decodable from any intra group, streamed.

network.py: the group network, its config and the size planner; fit.py: fitting one group on
the shared fit loop; chain.py: chains of groups, parallel workers and their checkpoints;
codec.py: the registered codec (group payloads, random-access decoding); method.py: options and
the registered method.
"""

from codec.video.nirvana.chain import fit_all, fit_chain, split_groups
from codec.video.nirvana.codec import (
    MODE_INTRA,
    MODE_RESIDUAL,
    NirvanaCodec,
    decode_group,
    encode_group,
)
from codec.video.nirvana.fit import (
    RECIPE,
    ChainState,
    GroupData,
    Recipe,
    fit_group,
    is_cut,
)
from codec.video.nirvana.method import NirvanaMethod, NirvanaOptions
from codec.video.nirvana.network import (
    NirvanaConfig,
    forward,
    from_patches,
    patch_centres,
    plan_config,
    to_patches,
)

__all__ = ["MODE_INTRA", "MODE_RESIDUAL", "RECIPE", "ChainState", "GroupData", "NirvanaCodec",
           "NirvanaConfig", "NirvanaMethod", "NirvanaOptions", "Recipe", "decode_group",
           "encode_group", "fit_all", "fit_chain", "fit_group", "forward", "from_patches",
           "is_cut", "patch_centres", "plan_config", "split_groups", "to_patches"]
