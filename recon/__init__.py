"""nircodec surface reconstruction (point clouds -> fields -> meshes).

Imports flow one way: ``recon`` may import ``codec`` (container, quantization, entropy coding),
never the reverse.
"""
