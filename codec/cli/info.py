"""``nircodec info FILE``: what a container holds, section by section, with sizes and bpp."""

from __future__ import annotations

import argparse
import json
from typing import Any

from codec.cli.common import common_parent, emit_json, human_bytes
from codec.container import ContainerReader, codec_name
from codec.errors import ContainerError
from codec.tensorpack import section_split


def add_parser(sub) -> None:
    p = sub.add_parser(
        "info",
        parents=[common_parent()],
        help="describe a .nirc file",
        description="Print the header and sections of a .nirc file (all CRCs are checked).",
    )
    p.add_argument("file", help="a .nirc file")
    p.set_defaults(run=run)


def describe(path: str) -> dict[str, Any]:
    with ContainerReader(path) as r:
        r.verify()
        split = section_split(r)
        sections = [
            {
                **row,
                "kind_id": s.kind,
                "offset": s.offset,
                "payload_bytes": s.length,
            }
            for s, row in zip(r.sections, split, strict=True)
        ]
        out: dict[str, Any] = {
            "file": path,
            "bytes": r.file_size,
            "format_version": f"{r.version[0]}.{r.version[1]}",
            "codec": _name(r.codec_id),
            "codec_id": r.codec_id,
            "header": r.header,
            "sections": sections,
            "overhead_bytes": r.file_size - sum(s["payload_bytes"] for s in sections),
        }
        from codec import registry

        try:
            cls = registry.by_id(r.codec_id).cls
        except ContainerError:
            cls = None
        if hasattr(cls, "group_table"):  # codecs with one section per group of frames
            out["groups"] = cls.group_table(r)
        if hasattr(cls, "video_table"):  # libraries of several videos (pfnr)
            out["videos"] = cls.video_table(r)
    video = r.header.get("video")
    if isinstance(video, dict):
        try:
            pixels = int(video["frames"]) * int(video["width"]) * int(video["height"])
        except (KeyError, TypeError, ValueError):
            raise ContainerError(f"{path}: header 'video' lacks frames/width/height") from None
        if pixels > 0:
            out["bpp"] = 8 * r.file_size / pixels
    return out


def _name(codec_id: int) -> str:
    """The registered name of a codec id (models registered at run time included)."""
    from codec import registry

    try:
        return registry.by_id(codec_id).name
    except ContainerError:
        return codec_name(codec_id)


def run(args: argparse.Namespace) -> int:
    info = describe(args.file)
    if args.json:
        emit_json(info)
        return 0
    print(
        f"{info['file']}: nircodec container {info['format_version']}, codec {info['codec']} "
        f"(id {info['codec_id']}), {human_bytes(info['bytes'])}"
    )
    if "bpp" in info:
        v = info["header"]["video"]
        print(
            f"video: {v['frames']} frames, {v['width']}x{v['height']}, "
            f"{info['bpp']:.5f} bpp (whole file)"
        )
    print("header: " + json.dumps(info["header"], sort_keys=True))
    width = max([len(s["name"]) for s in info["sections"]] + [7])
    print(f"{'section':<{width}}  {'kind':<10} {'bytes':>12} {'values':>10} {'bits/value':>10}"
          f" {'params B':>9} {'table B':>8}  tables")
    for s in info["sections"]:
        per = (f"{s['values']:>10,} {s['bits_per_value']:>10.2f} {s['param_bytes']:>9,} "
               f"{s['table_bytes']:>8,}  {s['tables']}" if s.get("bits_per_value") else "")
        print(f"{s['name']:<{width}}  {s['kind']:<10} {s['bytes']:>12,} {per}")
    if "videos" in info:
        print("videos (bytes: each video's own sections):")
        print(f"  {'video':>5}  {'frames':>6}  {'size':>9} {'bytes':>10} {'bpp':>8} "
              f"{'capacity':>8} {'weights used':>12} {'new':>8}")
        for v in info["videos"]:
            size = f"{v['width']}x{v['height']}"
            print(f"  {v['video']:>5}  {v['frames']:>6}  {size:>9} {v['bytes']:>10,} "
                  f"{v['bpp']:>8.4f} {v['capacity']:>8.2f} {v['weights_used']:>12,} "
                  f"{v['new_weights']:>8,}")
    if "groups" in info:
        print("groups (variable bitrate: bytes follow the content):")
        print(f"  {'group':>5}  {'frames':>11}  {'mode':<8} {'bytes':>10} {'bpp':>8}")
        for g in info["groups"]:
            a, b = g["frames"]
            print(f"  {g['group']:>5}  {f'{a}-{b}':>11}  {g['mode']:<8} {g['bytes']:>10,} "
                  f"{g['bpp']:>8.4f}")
    print(
        f"{'overhead':<{width}}  {'':<10} {info['overhead_bytes']:>12,}  "
        "(preamble, header, frames, table of contents)"
    )
    return 0
