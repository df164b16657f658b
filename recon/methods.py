"""The surface methods: importing this module registers each one's codec and method (it is the
``nircodec.plugins`` entry point ``recon``, which ``codec.registry`` loads). One line per
method."""

from recon import csp, gridpull, poisson, sdf

__all__ = ["csp", "gridpull", "poisson", "sdf"]
