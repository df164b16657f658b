"""Rate–distortion plots (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path


def plot_rd(curves: dict, path: Path, log_x: bool = False) -> None:
    """PSNR–bpp and (MS-)SSIM–bpp side by side, one line per curve, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from codec.atomic import atomic_write

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    kind = "MS-SSIM"
    for name, pts in curves.items():
        bpp = [p.bpp for p in pts]
        style = "-o" if name.startswith(("x26", "svt")) else "-s"
        axes[0].plot(bpp, [p.psnr for p in pts], style, label=name, ms=4)
        axes[1].plot(bpp, [p.ms_ssim for p in pts], style, label=name, ms=4)
        kind = "MS-SSIM" if pts[0].ssim_kind == "ms-ssim" else "SSIM"
    for ax, ylabel in zip(axes, ("PSNR (RGB) [dB]", kind), strict=True):
        ax.set_xlabel("bits per pixel (file bytes)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if log_x:
            ax.set_xscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path) as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)
