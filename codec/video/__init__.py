"""Video codecs (HNeRV, ...) and video I/O."""
