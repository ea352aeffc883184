#!/usr/bin/env python3
"""Makes the CogImage golden images: small odd JPEG / PNG inputs and what Pillow makes of them.

Writes into Tests/Fixtures/images/ (relative to the repository root):
  inputs/<case>.<ext>      the encoded input files (JPEG / PNG variants, resize sources, bad files)
  expected.safetensors     U8 tensors, all [H, W, 3] row-major RGB:
                             "<case>"                 Image.open(f).convert("RGB")
                             "<case>@<W>x<H>"         ...convert("RGB").resize((W, H), Image.BICUBIC)
  cases.json               one entry per case: file, Pillow mode and size, resize targets, and for
                           bad inputs the exception Pillow raises (for the record)

Inputs Pillow cannot write (16-bit RGB / RGBA / gray+alpha PNG, 1/2/4-bit PNG, interlaced PNG)
come from the small PNG writer below; JPEG variants Pillow cannot write (YCCK, CMYK without an
Adobe marker, Adobe RGB) come from make_jpeg_variant.c, compiled here against the system
libjpeg. Every expected value is Pillow's own decode of the committed input file.

Run from anywhere:  python3 Tests/Fixtures/images/generator/make_images.py
Requirements: requirements.txt next to this file (Pillow, pinned), a C compiler and libjpeg-dev.
Deterministic: re-running produces byte-identical outputs.
"""
from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import PIL
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent.parent  # Tests/Fixtures/images/generator → repository root
OUT = ROOT / "Tests" / "Fixtures" / "images"
INPUTS = OUT / "inputs"

rng = random.Random(20240611)


# ---------------------------------------------------------------------------------------------
# Synthetic pictures (plain Python, seeded)


def rgb_pattern(width: int, height: int, seed: int) -> bytes:
    """Smooth colour gradients with a few hard edges and mild noise: exercises JPEG chroma
    upsampling, edges for resize ringing, and the full 0..255 range."""
    local = random.Random(seed)
    out = bytearray()
    for y in range(height):
        for x in range(width):
            r = (x * 255) // max(1, width - 1)
            g = (y * 255) // max(1, height - 1)
            b = ((x + y) * 37) % 256
            if (width // 3) <= x < (2 * width // 3) and (height // 4) <= y < (height // 2):
                r, g, b = 250, 20, 30  # a red block with sharp edges
            if (x - width * 0.7) ** 2 + (y - height * 0.7) ** 2 < (min(width, height) * 0.18) ** 2:
                r, g, b = 10, 40, 240  # a blue disc
            noise = local.randint(-6, 6)
            out += bytes(max(0, min(255, v + noise)) for v in (r, g, b))
    return bytes(out)


def gray_pattern(width: int, height: int, seed: int, maximum: int = 255) -> list[int]:
    local = random.Random(seed)
    values = []
    for y in range(height):
        for x in range(width):
            v = ((x * 7 + y * 13) * maximum) // (7 * (width - 1) + 13 * (height - 1))
            v += local.randint(-maximum // 50, maximum // 50)
            values.append(max(0, min(maximum, v)))
    return values


# ---------------------------------------------------------------------------------------------
# A minimal PNG writer for the variants Pillow cannot save


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def pack_row(samples: list[int], bit_depth: int) -> bytes:
    if bit_depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if bit_depth == 8:
        return bytes(samples)
    per_byte = 8 // bit_depth
    out = bytearray()
    for i in range(0, len(samples), per_byte):
        byte = 0
        group = samples[i : i + per_byte]
        for j, s in enumerate(group):
            byte |= s << (8 - bit_depth * (j + 1))
        out.append(byte)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path: Path, width: int, height: int, bit_depth: int, color_type: int,
              samples: list[int], channels: int, extra: list[bytes] = (), interlace: bool = False) -> None:
    """samples: [height, width, channels] row-major integers; rows use filter 0 (None)."""
    def row(y: int, xs: range) -> bytes:
        flat = []
        for x in xs:
            base = (y * width + x) * channels
            flat.extend(samples[base : base + channels])
        return b"\x00" + pack_row(flat, bit_depth)

    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            xs = range(x0, width, dx)
            if len(xs) == 0:
                continue
            for y in range(y0, height, dy):
                raw += row(y, xs)
    else:
        for y in range(height):
            raw += row(y, range(width))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    for chunk in extra:
        data += chunk
    data += png_chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + png_chunk(b"IEND", b"")
    path.write_bytes(data)


# ---------------------------------------------------------------------------------------------
# Case table

cases: dict[str, dict] = {}
expected: dict[str, tuple[list[int], bytes]] = {}  # name -> (shape, bytes)


def record(name: str, file: Path, resize_targets: list[tuple[int, int]] = (), note: str = "") -> None:
    with Image.open(file) as im:
        mode, size, fmt = im.mode, im.size, im.format
        rgb = im.convert("RGB")
    expected[name] = ([size[1], size[0], 3], rgb.tobytes())
    entry = {"file": f"inputs/{file.name}", "format": fmt, "pillow_mode": mode, "width": size[0],
             "height": size[1], "resize": []}
    for (w, h) in resize_targets:
        resized = rgb.resize((w, h), Image.BICUBIC)
        key = f"{name}@{w}x{h}"
        expected[key] = ([h, w, 3], resized.tobytes())
        entry["resize"].append({"width": w, "height": h, "tensor": key})
    if note:
        entry["note"] = note
    cases[name] = entry


def record_bad(name: str, file: Path, expect_code: str, note: str) -> None:
    try:
        with Image.open(file) as im:
            im.convert("RGB")
        pillow = "decoded without error"
    except Exception as error:  # recorded, not handled: this is what Pillow does with the file
        pillow = f"{type(error).__name__}: {error}"
        pillow = pillow.replace(str(file), f"inputs/{file.name}")
    cases[name] = {"file": f"inputs/{file.name}", "bad": True, "expect_code": expect_code,
                   "pillow": pillow, "note": note}


def build_jpeg_variant_tool(workdir: Path) -> Path:
    tool = workdir / "make_jpeg_variant"
    subprocess.run(["cc", "-O1", "-o", str(tool), str(HERE / "make_jpeg_variant.c"), "-ljpeg"], check=True)
    return tool


def main() -> None:
    INPUTS.mkdir(parents=True, exist_ok=True)
    for old in INPUTS.iterdir():
        old.unlink()

    workdir = Path(tempfile.mkdtemp(prefix="cogimage-golden-"))
    tool = build_jpeg_variant_tool(workdir)

    # ---- JPEG
    w, h = 45, 31  # not multiples of 8 or 16: partial MCUs at the right and bottom edges
    rgb = Image.frombytes("RGB", (w, h), rgb_pattern(w, h, 1))
    for name, options in [
        ("jpeg_baseline_420", {"quality": 85, "subsampling": 2}),
        ("jpeg_baseline_422", {"quality": 85, "subsampling": 1}),
        ("jpeg_baseline_444", {"quality": 95, "subsampling": 0}),
        ("jpeg_progressive", {"quality": 85, "progressive": True}),
        ("jpeg_restart_markers", {"quality": 85, "restart_marker_blocks": 2}),
        ("jpeg_optimized_huffman", {"quality": 70, "optimize": True}),
    ]:
        path = INPUTS / f"{name}.jpg"
        rgb.save(path, "JPEG", **options)
        record(name, path)

    gray = Image.frombytes("L", (w, h), bytes(gray_pattern(w, h, 2)))
    gray.save(INPUTS / "jpeg_gray.jpg", "JPEG", quality=90)
    record("jpeg_gray", INPUTS / "jpeg_gray.jpg")

    cmyk = rgb.convert("CMYK")
    cmyk.save(INPUTS / "jpeg_cmyk_adobe.jpg", "JPEG", quality=90)
    record("jpeg_cmyk_adobe", INPUTS / "jpeg_cmyk_adobe.jpg",
           note="Pillow writes CMYK inverted with an Adobe marker (transform 0)")

    # Adobe convention: the file stores 255 - ink. Feed inverted CMYK so the picture looks sane.
    inverted_cmyk = bytes(255 - b for b in cmyk.tobytes())
    raw4 = workdir / "cmyk.raw"
    raw4.write_bytes(inverted_cmyk)
    raw3 = workdir / "rgb.raw"
    raw3.write_bytes(rgb.tobytes())
    for name, kind, raw in [
        ("jpeg_ycck", "ycck", raw4),
        ("jpeg_cmyk_no_adobe", "cmyk-plain", raw4),
        ("jpeg_adobe_rgb", "adobe-rgb", raw3),
    ]:
        path = INPUTS / f"{name}.jpg"
        subprocess.run([str(tool), kind, str(w), str(h), "90", str(raw), str(path)], check=True)
        record(name, path, note=f"written by make_jpeg_variant.c ({kind})")

    baseline = (INPUTS / "jpeg_baseline_420.jpg").read_bytes()
    assert baseline.endswith(b"\xff\xd9")

    # ---- PNG written by Pillow
    rgb.save(INPUTS / "png_rgb8.png")
    record("png_rgb8", INPUTS / "png_rgb8.png")
    gray.save(INPUTS / "png_gray8.png")
    record("png_gray8", INPUTS / "png_gray8.png")

    g16 = gray_pattern(w, h, 3, maximum=65535)
    # a band of small values so Pillow's I;16 -> RGB rule (v < 256 ? v : 255) is visible both ways
    g16 = [v if (i // w) % 4 else v % 300 for i, v in enumerate(g16)]
    Image.frombytes("I;16", (w, h), b"".join(struct.pack("<H", v) for v in g16)).save(INPUTS / "png_gray16.png")
    record("png_gray16", INPUTS / "png_gray16.png", note="Pillow opens this as I;16")

    alpha = bytes(gray_pattern(w, h, 4))
    la = Image.merge("LA", (gray, Image.frombytes("L", (w, h), alpha)))
    la.save(INPUTS / "png_gray_alpha8.png")
    record("png_gray_alpha8", INPUTS / "png_gray_alpha8.png")
    rgba = Image.merge("RGBA", (*rgb.split(), Image.frombytes("L", (w, h), alpha)))
    rgba.save(INPUTS / "png_rgba8.png")
    record("png_rgba8", INPUTS / "png_rgba8.png")

    palette_image = rgb.quantize(colors=23)  # P with a 23-entry palette
    trns = bytes(rng.randint(0, 255) for _ in range(23))
    palette_image.save(INPUTS / "png_palette8_trns.png", transparency=trns)
    record("png_palette8_trns", INPUTS / "png_palette8_trns.png",
           note="palette with per-entry alpha (tRNS); convert('RGB') ignores the alpha")

    # ---- PNG written by hand
    def hand(name: str, bit_depth: int, color_type: int, channels: int, samples: list[int], **kw) -> None:
        path = INPUTS / f"{name}.png"
        write_png(path, w, h, bit_depth, color_type, samples, channels, **kw)
        record(name, path)

    rgb_bytes = rgb.tobytes()
    rgb16 = [(b << 8) | ((b * 7 + i) & 0xFF) for i, b in enumerate(rgb_bytes)]
    hand("png_rgb16", 16, 2, 3, rgb16)
    rgba16 = []
    for i in range(w * h):
        rgba16 += rgb16[i * 3 : i * 3 + 3] + [(alpha[i] << 8) | 0x5A]
    hand("png_rgba16", 16, 6, 4, rgba16)
    la16 = []
    for i in range(w * h):
        la16 += [g16[i], (alpha[i] << 8) | 0xA5]
    hand("png_gray_alpha16", 16, 4, 2, la16)
    for depth in (1, 2, 4):
        hand(f"png_gray{depth}", depth, 0, 1, gray_pattern(w, h, 5 + depth, maximum=(1 << depth) - 1))
    palette = [rng.randint(0, 255) for _ in range(11 * 3)]
    # indices 11 and 12 point past the 11-entry palette: Pillow (and libpng) accept that, Pillow
    # maps them to black
    indices = [v % 13 for v in gray_pattern(w, h, 9, maximum=40)]
    hand("png_palette4_short", 4, 3, 1, indices, extra=[png_chunk(b"PLTE", bytes(palette))])
    hand("png_interlaced_rgb8", 8, 2, 3, list(rgb_bytes), interlace=True)
    hand("png_interlaced_gray16", 16, 0, 1, g16, interlace=True)

    # ---- resize sources (non-square) with Pillow BICUBIC targets
    rw, rh = 131, 67
    source = Image.frombytes("RGB", (rw, rh), rgb_pattern(rw, rh, 11))
    source.save(INPUTS / "resize_source.png")
    record("resize_source", INPUTS / "resize_source.png",
           resize_targets=[(56, 56), (200, 150), (40, 90), (131, 30), (20, 67), (7, 5), (1, 1), (131, 67),
                           # Pillow 13 runs the vertical pass first when the height shrinks by more
                           # than twice as many pixels as the width: 20 > 2*9 here, 20 = 2*10 not
                           (122, 47), (121, 47), (150, 20)])
    tall = Image.frombytes("RGB", (23, 61), rgb_pattern(23, 61, 12))
    tall.save(INPUTS / "resize_tall.png")
    record("resize_tall", INPUTS / "resize_tall.png", resize_targets=[(56, 56), (14, 14), (97, 200)])

    # random noise (worst case for rounding) resized to seeded random sizes, both pass orders
    noise_rng = random.Random(13)
    noise = Image.frombytes("RGB", (29, 37), bytes(noise_rng.randint(0, 255) for _ in range(29 * 37 * 3)))
    noise.save(INPUTS / "resize_noise.png")
    noise_targets = []
    while len(noise_targets) < 24:
        target = (noise_rng.randint(1, 45), noise_rng.randint(1, 45))
        if target not in noise_targets and target != (29, 37):
            noise_targets.append(target)
    record("resize_noise", INPUTS / "resize_noise.png", resize_targets=noise_targets)

    # ---- bad inputs
    (INPUTS / "bad_truncated.jpg").write_bytes(baseline[: len(baseline) * 6 // 10])
    record_bad("bad_truncated_jpeg", INPUTS / "bad_truncated.jpg", "image.truncated",
               "jpeg_baseline_420 cut to 60% of its bytes")
    (INPUTS / "bad_missing_eoi.jpg").write_bytes(baseline[:-2])
    record_bad("bad_missing_eoi_jpeg", INPUTS / "bad_missing_eoi.jpg", "image.truncated",
               "jpeg_baseline_420 without its final EOI marker (Pillow: truncated)")
    progressive = (INPUTS / "jpeg_progressive.jpg").read_bytes()
    (INPUTS / "bad_truncated_progressive.jpg").write_bytes(progressive[: len(progressive) * 6 // 10])
    record_bad("bad_truncated_progressive_jpeg", INPUTS / "bad_truncated_progressive.jpg", "image.truncated",
               "jpeg_progressive cut to 60% of its bytes")
    (INPUTS / "bad_empty.jpg").write_bytes(b"")
    record_bad("bad_empty", INPUTS / "bad_empty.jpg", "image.empty_file", "zero bytes")
    (INPUTS / "bad_text.jpg").write_bytes(b"This is a text file that only pretends to be a JPEG.\n")
    record_bad("bad_text", INPUTS / "bad_text.jpg", "image.unknown_format", "plain text named .jpg")
    huge = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))
    (INPUTS / "bad_huge_header.png").write_bytes(huge)
    record_bad("bad_huge_header", INPUTS / "bad_huge_header.png", "image.too_many_pixels",
               "IHDR claims 30000x30000 RGB (900 MP); the IDAT holds 64 zero bytes")
    good_png = bytearray((INPUTS / "png_rgb8.png").read_bytes())
    good_png[8 + 8 + 13] ^= 0xFF  # first byte of the IHDR CRC
    (INPUTS / "bad_crc.png").write_bytes(bytes(good_png))
    record_bad("bad_crc_png", INPUTS / "bad_crc.png", "image.corrupt", "png_rgb8 with its IHDR CRC flipped")
    good_png = (INPUTS / "png_rgb8.png").read_bytes()
    (INPUTS / "bad_truncated.png").write_bytes(good_png[: len(good_png) // 2])
    record_bad("bad_truncated_png", INPUTS / "bad_truncated.png", "image.truncated", "png_rgb8 cut in half")

    # ---- write expected.safetensors (U8 only) and cases.json
    header: dict[str, dict] = {}
    blobs = []
    offset = 0
    for key in sorted(expected):
        shape, data = expected[key]
        header[key] = {"dtype": "U8", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"generator": "Tests/Fixtures/images/generator/make_images.py", "pillow": PIL.__version__}
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    header_bytes += b" " * ((8 - len(header_bytes) % 8) % 8)
    (OUT / "expected.safetensors").write_bytes(struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(blobs))
    (OUT / "cases.json").write_text(json.dumps(
        {"pillow": PIL.__version__, "python": sys.version.split()[0], "cases": cases}, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{len(cases)} cases, {len(expected)} tensors, {total} bytes in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
