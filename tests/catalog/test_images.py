"""Every kind of odd file a catalogue holds: fixed up when usable, named with a reason when not."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vsearch.catalog.images import load_image
from vsearch.core.errors import BadImageError


def _photo(products_224: Path) -> Image.Image:
    return Image.open(products_224 / "images" / "10001.jpg").convert("RGB")


def make_odd_files(folder: Path, products_224: Path) -> tuple[dict[str, str], list[str]]:
    """Write odd image files into `folder`; returns ({bad file: reason word}, [good files])."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = _photo(products_224)
    raw = (products_224 / "images" / "10002.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(raw[: len(raw) // 3])
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "notimage.jpg").write_text("this is a text file, not a photo\n")
    photo.resize((2, 2)).save(folder / "tiny.png")
    Image.new("L", (12_000, 11_000), 128).save(folder / "enormous.png")
    bad = {"truncated.jpg": "decode", "zero.jpg": "empty", "notimage.jpg": "not an image", "tiny.png": "too small",
           "enormous.png": "too large"}

    photo.convert("CMYK").save(folder / "cmyk.jpg")
    gradient = (np.linspace(0, 65535, 224 * 224).reshape(224, 224)).astype(np.uint16)
    Image.fromarray(gradient).save(folder / "sixteen_bit.png")
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.new("L", photo.size, 0).point(lambda _: 0))
    rgba.paste(photo.crop((50, 50, 150, 150)), (50, 50))
    rgba.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette_alpha.png", transparency=0)
    frames = [photo, photo.rotate(90), photo.rotate(180)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    wide = photo.resize((300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    wide.save(folder / "exif_rotated.jpg", exif=exif.tobytes())
    photo.resize((6000, 6000)).save(folder / "huge_photo.jpg", quality=70)
    shutil.copy(products_224 / "images" / "10003.jpg", folder / "plain.jpg")
    good = ["cmyk.jpg", "sixteen_bit.png", "palette_alpha.png", "animated.gif", "exif_rotated.jpg", "huge_photo.jpg",
            "plain.jpg"]
    return bad, good


def test_bad_files_raise_with_reason(tmp_path: Path, products_224: Path) -> None:
    bad, good = make_odd_files(tmp_path, products_224)
    for name, reason in bad.items():
        with pytest.raises(BadImageError, match=reason):
            load_image(tmp_path / name)
    with pytest.raises(BadImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    for name in good:
        image = load_image(tmp_path / name)
        assert image.mode == "RGB" and min(image.size) >= 8, name


def test_odd_but_usable_files_look_right(tmp_path: Path, products_224: Path) -> None:
    make_odd_files(tmp_path, products_224)
    assert load_image(tmp_path / "exif_rotated.jpg").size == (200, 300)  # upright, as a viewer shows it
    grey = np.asarray(load_image(tmp_path / "sixteen_bit.png"), dtype=np.float64)
    assert 100 < grey.mean() < 155 and grey.min() < 10 and grey.max() > 245  # scaled, not clipped to white
    pal = np.asarray(load_image(tmp_path / "palette_alpha.png"))
    assert (pal[:40, :40] > 240).all()  # transparent corner composited on white
    cmyk = np.asarray(load_image(tmp_path / "cmyk.jpg"), dtype=np.float64)
    ref = np.asarray(_photo(products_224), dtype=np.float64)
    assert np.abs(cmyk - ref).mean() < 12
    huge = load_image(tmp_path / "huge_photo.jpg")
    assert 1024 <= max(huge.size) < 6000  # decoded at reduced scale
