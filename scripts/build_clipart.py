#!/usr/bin/env python3
"""Build the course's clip-art datasets from the Debian package ``openclipart-png``.

Writes ``clipart/clipart.npz`` (labelled, 128x128), ``clipart/clipart_unlabelled.npz`` (64x64,
for self-supervised pretraining), ``capstone_images/<class>/<name>.png``,
``clipart/clipart_fewshot.npz`` (64x64, classes for few-shot learning),
``clipart/clipart_pairs.npz`` (64x64 drawings with captions from the SVG metadata of the Debian
package ``openclipart-svg``, for cross-modal learning), ``clipart/SHA256SUMS`` and ``README.md``
(documenting all this) under ``--out``. No randomness: reruns are identical.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from _captions import TITLE_MAX, captions, singular, words  # scripts/: on sys.path when run
from PIL import Image

Image.MAX_IMAGE_PIXELS = 250_000_000  # a few package PNGs are 12000x14000 canvases
PACKAGE = "`openclipart-png`, version 1:0.18+dfsg-19"
SIZE, POOL_SIZE, CLASS_MAX, POOL_COUNT, CAPSTONE_MIN, CAPSTONE_MAX = 128, 64, 80, 1750, 30, 40
FEW_SIZE, FEW_MIN, FEW_MAX = 64, 20, 30  # few-shot classes: px, and images per class
PAIR_SIZE, PAIR_FOLDER_MAX = 64, 100  # image-text pairs: px, and at most this many per folder
WHITE_LEVEL, MAX_WHITE, MIN_SIDE = 245, 0.98, 32
SKIP = re.compile(r"mateya")  # the *_mateya files are product labels: never in a class
BW = re.compile(r"(?:^|[_\-])(?:bw|b_w|bn)(?:[_\-.]|$)")  # black-and-white twin of a colour file
ALPHA_CROP = re.compile(r"^signs_and_symbols/flags/")  # crop to opaque area: keep white bands


def parse_rules(table: str) -> dict[str, tuple[str, str]]:
    """``{class: (include regex, exclude regex)}`` from the rule table format below."""
    rows = [line.split(maxsplit=2) for line in table.strip().splitlines()]
    join = {(n, s): "|".join(r for c, g, r in rows if (c, g) == (n, s)) for n, s, _ in rows}
    return {n: (join[n, "+"], join.get((n, "-"), "$^")) for n, _, _ in rows}


# Rules: class, + (include) or - (exclude), regex searched in paths under --source, same-sign
# lines OR-ed. Excluded: off-topic, ambiguous, "Image Not Found" (tux_didier, duck_yellow_ii).
LABELLED = parse_rules(r"""
birds     + ^animals/birds/|^animals/(emperor_penguin|new_penguin|pinguino_col|tux_head)
birds     + ^unsorted/(Anatra|Colombo|colombo2|Pinguino\d|papera|pennuto\d|struzzo|gabbiano_pic)
birds     - tux_didier|duck_yellow_ii|contour_bat|manager_mimooh|mirjam_meijer|wing_mitchell
birds     - marchio_gallina|turkey_on_platter|Tacchino
buildings + ^buildings/homes/|^unsorted/(Condominio|fattoria|igloo|grattacieli)|lighthouse_01
buildings + ^buildings/(carnegie|ch_teau|church_building|factory|firestation|grain_elevator)
buildings + ^buildings/(house_|lighthouse|perspectival|school_country|us_capitol|water_tower)
buildings - /home8\.|/home13\.|houses_jon_phillips
bugs      + ^animals/bugs/|^animals/(mosquito_peterm|scorpion)
bugs      - lumaca|virus_|ragno_figo|zanzara_cretina|mostriciattolo
clothing  + ^people/clothing/|^unsorted/(calzettoni\.|vestito_rosa\.|Attaccapanni)
clothing  + ^recreation/sports/football_helmet
clothing  - /jewelry/|/pantyhose/|earring|gold_chain|shoe_print|straw_tote|pattino|jacob_leisler
desserts  + ^food/desserts/|^food/(cake_and_candle|candied_apples)|^food/breads_and_carbs/muffin
drinks    + ^food/beverages/|^food/juice_glass|^office/cup_rollandin|^unsorted/biberon
drinks    - noi_due_insieme|wooden_barrel|wine_corks|flower-pot|ice_?cube|macchina
fruit     + ^food/fruit/|^food/(apple_|grapes_|watermelon_)
fruit     - juice|candied|champignon|eris_apple|gumnut|kallisti|/pie_|slate-apple|straw_tote
fruit     - tile_orange|tree_whit_fruits|turkey_platter|lime_half_jarno
mammals   + ^animals/mammals/|^animals/(armadillo|bison|sailor_monkey|seal)
mammals   + ^unsorted/(cammello|elefante_in_corsa|elefantone|mucca|pecorella)\.
mammals   - sleeping_bear_under|crazy_monkey|cat_scrathing|mhooo|shaezy|skoynk|squeek|emule_icon
mammals   - toro_al_tramonto|stambecco|mechorse|dolphin_01|elephant_outline|gatto_nero
plants    + ^plants/|^unsorted/(rosa\d|rose|foglie_[a-z]+)\.
plants    - acorn|champignon|mushroom|toadstool|gumnut|potato|cayenne|human_humain|magnolia-white
plants    - bowsaw|bypasspruner|christmas_balls|fall_scene|island_palm|cannabis|mirjam
vehicles  + ^transportation/(.+/)?(ambulans|autos|big_truck|blazer|bmw_z|bus(\d|_01|_symbol))
vehicles  + ^transportation/(.+/)?(car_(jamin|ride)|dodge_neon|fire_engine|formula_one|hummer)
vehicles  + ^transportation/(.+/)?(motorcycle|old_(car|truck)|redcar|road_runner|skoda|small_truck)
vehicles  + ^transportation/(.+/)?(sportcar|toyota|truck_jarno|tramway|(1989)?_chevrolet|4wd)
vehicles  + ^transportation/(.+/)?(car\.png|trattore|aircraft|airplane_nicu|departing_plane)
vehicles  + ^transportation/(.+/)?(military_airplane|plane_(silhouet|in_the_sky)|soviet_shuttle)
vehicles  + ^transportation/(.+/)?(rocket|pallone|bicycle|bike_tobias|bicicletta|vtt_02|boat_jarno)
vehicles  + ^unsorted/(ambulanza|betoniera|Montacarichi)\.|fire_engine_mimooh|trawler|m1_abrams
vehicles  + sailboat_illustration\.
""")
CAPSTONE = parse_rules(r"""
computers   + hardware/(computer|Computer-Keyboard|keyboard|desktop|doublesight|lcd|etiquette_)
computers   + hardware/(flat_screen|gis-computer|gnome-fs-client|laptop|laserprinter|monitor)
computers   + hardware/(mouse|printer|schermo_macintosh|stampante|tower|video|workstation)
flags       + ^signs_and_symbols/flags/(africa|america|asia|europe|oceania)/[a-z_\-]+\.png$
flags       - ganson|route_jakob|national_flag|trust_territory|armenia
instruments + ^recreation/music/(africandrum|bass_guitar|cello|derbouk|djambf|drums)
instruments + ^recreation/music/(electric_guitar|flute|french_horn|guitar|harp|maracas)
instruments + ^recreation/music/(mountain_dulcimer|oboe|piano_geraint|saxophone|violin)
instruments + ^recreation/music/(tenor_trombone|trumpet_(b_flat|herald|pocket)|xylophone)
tools       + ^tools/(axe|blacksmith_hammer|brush_roller|bypasslopper|construction_hammer)
tools       + ^tools/(cultivator|drill|hammer|hedgeshear|leafrake|livella|nail_puller)
tools       + ^tools/(paint_brush|paint_roller_gerald|roundpointshovel|saw_|screwdriver)
tools       + ^tools/(simple_shovel|spaclu|tool\.|tools_nicu|trowel|utensil|wooden_mallot|wrench)
tools       + ^plants/trees/(bowsaw|bypasspruner)|^unsorted/(motosega|sega_per_legno|metro_avvolg)
""")

# Few-shot classes (notebook 09): one package folder each, its own files only ([^/]+$), none
# of the classes above. Chosen by looking at every image: coherent folders of 20+ drawings;
# mixed folders (computer, office, people, unsorted), icon themes (classes of style, not of
# things) and near-duplicate folders (three more styles of the same playing cards; glossy
# buttons again under signs_and_symbols/led) are left out.
FEWSHOT = parse_rules(r"""
arrows      + ^shapes/arrows/[^/]+$
body_parts  + ^people/bodypart/[^/]+$
body_parts  - olifant
buttons     + ^computer/buttons/[^/]+$
cards       + ^recreation/games/cards/simple/[^/]+$
clocks      + ^signs_and_symbols/clocks/[^/]+$
electronics + ^electronics/[^/]+$
flowchart   + ^shapes/flowchart/[^/]+$
jigsaw      + ^shapes/jigsaw/[^/]+$
map_symbols + ^signs_and_symbols/map_symbols/[^/]+$
maps        + ^geography/[^/]+$
ornaments   + ^decorations/[^/]+$
party       + ^recreation/party/[^/]+$
patterns    + ^special/patterns/[^/]+$
road_signs  + ^transportation/roadsigns/[^/]+$
school      + ^education/[^/]+$
semaphore   + ^signs_and_symbols/flags/semaphore/[^/]+$
smileys     + ^people/smilies/[^/]+$
speech      + ^shapes/callouts/[^/]+$
starbursts  + ^shapes/stars/[^/]+$
stickmen    + ^people/stickmen/[^/]+$
toys        + ^recreation/toys/[^/]+$
weapons     + ^tools/weapons/[^/]+$
weather     + ^signs_and_symbols/weather/[^/]+$
""")


def scan(source: Path) -> dict[str, list[str]]:
    """Map the sha256 of each file's bytes to the sorted relative paths holding those bytes."""
    groups: dict[str, list[str]] = defaultdict(list)
    for path in sorted(p for p in source.rglob("*.png") if p.is_file()):
        rel = path.relative_to(source).as_posix()
        groups[hashlib.sha256(path.read_bytes()).hexdigest()].append(rel)
    return dict(groups)


def render(source: Path, rel: str, size: int) -> np.ndarray | str:
    """White-composited, content-cropped, LANCZOS-fitted, centred uint8 RGB; or why skipped."""
    try:
        with Image.open(source / rel) as im:
            im.load()
            if min(im.size) < MIN_SIDE:
                return "tiny"
            rgba = im.convert("RGBA")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return "unreadable"
    if max(rgba.size) > 4096:  # alpha-aware box reduction of huge canvases
        rgba = rgba.reduce(-(-max(rgba.size) // 4096))
    img = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    box = rgba.getchannel("A").getbbox() if ALPHA_CROP.search(rel) else None
    if box is None:  # crop to the non-white content
        ys, xs = np.nonzero((np.asarray(img) < WHITE_LEVEL).any(axis=-1))
        if len(ys) == 0:
            return "blank"
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    if max((img := img.crop(box)).size) < MIN_SIDE:
        return "tiny"
    scale = (size - 2 * max(1, size // 32)) / max(img.size)
    new = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    out = Image.new("RGB", (size, size), (255, 255, 255))
    out.paste(img.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0),
              ((size - new[0]) // 2, (size - new[1]) // 2))  # fmt: skip
    arr = np.asarray(out, dtype=np.uint8)
    return "blank" if (arr >= WHITE_LEVEL).all(axis=-1).mean() > MAX_WHITE else arr


def assign(groups: dict[str, list[str]], rules: dict[str, tuple[str, str]], skips: Counter):
    """{class: sorted [(source path, sha)]} for the files that match exactly one class."""
    hits: dict[str, dict[str, str]] = defaultdict(dict)
    for sha, paths in groups.items():
        matched = {}
        for name, (inc, exc) in rules.items():
            hit = [p for p in paths if re.search(inc, p)]
            if hit and not any(re.search(exc, p) or SKIP.search(p.rsplit("/", 1)[-1]) for p in hit):
                matched[name] = hit[0]
        if len(matched) > 1:
            skips["matches two classes"] += 1
        elif matched:
            ((name, src),) = matched.items()
            hits[name][sha] = src
    return {n: sorted((src, sha) for sha, src in hits[n].items()) for n in sorted(rules)}


def ok(img: np.ndarray | str, skips: Counter) -> bool:
    """True for a rendered image; otherwise count the skip reason."""
    skips.update([img] if isinstance(img, str) else [])
    return not isinstance(img, str)


def select(source: Path, cands, size: int, cap: int, skips: Counter):
    """Render each class's candidates; keep at most ``cap``, spread evenly over sorted paths."""
    out: dict[str, list[tuple[str, str, np.ndarray]]] = {}
    for name, items in cands.items():
        good = [(src, sha, im) for src, sha in items if ok(im := render(source, src, size), skips)]
        if len(good) > cap:
            good = [good[i] for i in np.linspace(0, len(good) - 1, cap).round().astype(int)]
        out[name] = good
        print(f"  {name:12s} {len(items):4d} candidates -> {len(good)}")
    return out


def build_pool(source: Path, groups, used: set[str], skips: Counter):
    """Leftovers of the labelled classes' folders first, then other folders round-robin."""
    incs = [inc for inc, _ in LABELLED.values()]
    tiers: list[dict[str, list[str]]] = [defaultdict(list), defaultdict(list)]
    for sha in sorted(groups):  # sha order acts as a fixed pseudo-random shuffle
        src = groups[sha][0]
        if sha not in used and not src.startswith("special/gradients/"):
            tier = 0 if any(re.search(i, p) for i in incs for p in groups[sha]) else 1
            tiers[tier]["/".join(src.split("/")[:-1][:2])].append(src)  # key: folder, 2 levels
    pool, origin = [], Counter()
    for t, tier in enumerate(tiers):
        queues = [tier[k] for k in sorted(tier)]
        while any(queues) and len(pool) < POOL_COUNT:
            for q in [q for q in queues if q][: POOL_COUNT - len(pool)]:
                if ok(img := render(source, src := q.pop(0), POOL_SIZE), skips):
                    pool.append((src, img))
                    origin[src.split("/")[0] if t else "labelled-class leftovers"] += 1
    return sorted(pool, key=lambda item: item[0]), origin


def build_fewshot(source: Path, groups, used: set[str], pool):
    """The few-shot classes, from files no other class uses or matches (no black-and-white
    twins); built after the pool, so the other outputs do not depend on it. Returns the
    classes, the skip reasons, and how many of the images the pool also holds."""
    course = [inc for inc, _ in {**LABELLED, **CAPSTONE}.values()]
    free = {sha: paths for sha, paths in groups.items() if sha not in used
            and not any(re.search(inc, p) for inc in course for p in paths)
            and not any(BW.search(p.rsplit("/", 1)[-1]) for p in paths)}
    skips: Counter = Counter()
    few = select(source, assign(free, FEWSHOT, skips), FEW_SIZE, FEW_MAX, skips)
    assert all(len(v) >= FEW_MIN for v in few.values()), "few-shot class too small"
    pool_shas = {sha for sha, paths in groups.items() if paths[0] in {src for src, _ in pool}}
    return few, skips, sum(sha in pool_shas for items in few.values() for _, sha, _ in items)


def build_pairs(png: Path, svg: Path, skips: Counter):
    """Drawings with their captions (``scripts/_captions.py``), none of the labelled classes:
    no file their rules match and no caption that names one ("bat, mammal"), so a zero-shot
    test on them meets classes the pairs never showed nor named. One drawing per distinct
    caption (the first by path; black-and-white twins left out); at most ``PAIR_FOLDER_MAX``
    per folder (two levels), spread evenly by path, so that no set (hundreds of flags)
    dominates. Returns ``[(source png, caption, image)]``."""
    paths = sorted(p.relative_to(svg).as_posix() for p in svg.rglob("*.svg") if p.is_file())
    text = captions(svg, paths)
    labelled = [inc for inc, _ in LABELLED.values()]
    class_words = {singular(name) for name in LABELLED}  # birds -> bird, ..., clothing
    seen, by_folder = set(), defaultdict(list)
    for path in paths:
        src = path[:-4] + ".png"
        reason = ("no caption" if not text[path]
                  else "labelled class" if any(re.search(inc, src) for inc in labelled)
                  else "names a labelled class" if {singular(w) for w in words(text[path])}
                  & class_words
                  else "black-and-white twin" if BW.search(src.rsplit("/", 1)[-1])
                  else "caption repeated" if text[path] in seen
                  else "no png" if not (png / src).is_file()
                  else "gradient swatch" if src.startswith("special/gradients/") else None)
        if reason is not None:
            skips[reason] += 1
        elif ok(img := render(png, src, PAIR_SIZE), skips):
            seen.add(text[path])
            by_folder["/".join(src.split("/")[:-1][:2])].append((src, text[path], img))
    rows = []
    for folder in sorted(by_folder):
        items = by_folder[folder]
        if len(items) > PAIR_FOLDER_MAX:
            skips["over the folder cap"] += len(items) - PAIR_FOLDER_MAX
            items = [items[i] for i in np.linspace(0, len(items) - 1, PAIR_FOLDER_MAX).round()
                     .astype(int)]
        rows += items
    return sorted(rows, key=lambda row: row[0])


def save_npz(path: Path, **arrays: np.ndarray) -> str:
    """``np.savez_compressed`` with fixed zip timestamps (reproducible bytes); returns sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(arr), allow_pickle=False)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_labelled(path: Path, classes: dict[str, list[tuple[str, str, np.ndarray]]]):
    """Save ``{class: [(source, sha, image)]}`` (classes sorted) as images, labels, classes
    and sources; returns the rows ``(label, source, image)`` and the file's sha256."""
    rows = [(i, src, img) for i, c in enumerate(classes) for src, _, img in classes[c]]
    return rows, save_npz(
        path,
        images=np.stack([img for _, _, img in rows]),
        labels=np.array([i for i, _, _ in rows], dtype=np.int64),
        classes=np.array(list(classes)),
        sources=np.array([src for _, src, _ in rows]),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=Path("/usr/share/openclipart/png"))
    ap.add_argument("--svg", type=Path, default=Path("/usr/share/openclipart/svg"))
    ap.add_argument("--out", type=Path, default=Path("data"))
    args = ap.parse_args()
    if not args.source.is_dir():
        raise SystemExit(f"{args.source} not found: sudo apt-get install openclipart-png")
    groups = scan(args.source)
    skips, pool_skips = Counter(), Counter()
    cands = assign(groups, {**LABELLED, **CAPSTONE}, skips)
    lab = select(args.source, {k: cands[k] for k in sorted(LABELLED)}, SIZE, CLASS_MAX, skips)
    cap = select(args.source, {k: cands[k] for k in sorted(CAPSTONE)}, SIZE, CAPSTONE_MAX, skips)
    assert all(len(v) >= CAPSTONE_MIN for v in cap.values()), "capstone class too small"
    used = {sha for d in (lab, cap) for items in d.values() for _, sha, _ in items}
    pool, origin = build_pool(args.source, groups, used, pool_skips)
    rows, sha_l = save_labelled(args.out / "clipart" / "clipart.npz", lab)
    sha_u = save_npz(
        args.out / "clipart" / "clipart_unlabelled.npz",
        images=np.stack([img for _, img in pool]),
        sources=np.array([src for src, _ in pool]),
    )
    few, few_skips, in_pool = build_fewshot(args.source, groups, used, pool)
    rows_f, sha_f = save_labelled(args.out / "clipart" / "clipart_fewshot.npz", few)
    if not args.svg.is_dir():
        raise SystemExit(f"{args.svg} not found: sudo apt-get install openclipart-svg")
    pair_skips: Counter = Counter()
    pairs = build_pairs(args.source, args.svg, pair_skips)
    sha_p = save_npz(args.out / "clipart" / "clipart_pairs.npz",
                     images=np.stack([img for _, _, img in pairs]),
                     captions=np.array([cap for _, cap, _ in pairs]),
                     sources=np.array([src for src, _, _ in pairs]))
    sums = (f"{sha_l}  clipart.npz\n{sha_u}  clipart_unlabelled.npz\n"
            f"{sha_f}  clipart_fewshot.npz\n{sha_p}  clipart_pairs.npz\n")
    (args.out / "clipart" / "SHA256SUMS").write_text(sums, encoding="utf-8")
    shutil.rmtree(args.out / "capstone_images", ignore_errors=True)
    for name, items in cap.items():
        (args.out / "capstone_images" / name).mkdir(parents=True)
        for src, _, img in items:  # short ascii-safe names, unique within each class folder
            stem = re.sub(r"[^a-z0-9]+", "_", Path(src).stem.lower()).strip("_")[:40].rstrip("_")
            dest = args.out / "capstone_images" / name / f"{stem}.png"
            assert not dest.exists(), dest
            Image.fromarray(img).save(dest, optimize=True)
    table = ["| class | images |", "|---|---|"] + [f"| {c} | {len(v)} |" for c, v in lab.items()]
    table += [f"| {c} (capstone) | {len(v)} |" for c, v in cap.items()]
    few_table = ["| class | images | package folder |", "|---|---|---|"] + [
        f"| {c} | {len(v)} | `{FEWSHOT[c][0][1:-7]}` |" for c, v in few.items()]
    fmt = lambda d: ", ".join(f"{k} {v}" for k, v in d.items()) or "none"  # noqa: E731
    (args.out / "README.md").write_text(README.format(
        n=len(rows), m=len(pool), k=sum(map(len, cap.values())), c=len(lab), sha_l=sha_l,
        sha_u=sha_u, table="\n".join(table), origin=fmt(origin), skips=fmt(skips),
        f=len(rows_f), fc=len(few), sha_f=sha_f, few_table="\n".join(few_table), in_pool=in_pool,
        few_skips=fmt(few_skips), p=len(pairs), sha_p=sha_p, pair_skips=fmt(pair_skips),
        pair_examples="\n".join(f"| `{src}` | {cap} |" for src, cap, _ in pairs[::len(pairs) // 8]),
        title_max=TITLE_MAX,
        pair_folders=len({"/".join(src.split("/")[:-1][:2]) for src, _, _ in pairs}),
        pool_skips=fmt(pool_skips), bw=sum(bool(BW.search(Path(r[1]).name)) for r in rows),
        **{k: v for k, v in globals().items() if k.isupper()},
    ), encoding="utf-8")  # fmt: skip
    print(f"labelled {len(rows)}, pool {len(pool)}, few-shot {len(rows_f)}, pairs {len(pairs)}; "
          f"skipped {dict(skips)}, pool {dict(pool_skips)}, few-shot {dict(few_skips)}, "
          f"pairs {dict(pair_skips)}")


README = """# Course data: Open Clip Art images

Generated by `scripts/build_clipart.py` from the Debian package {PACKAGE}; do not edit.
Rebuild: `sudo apt-get install openclipart-png openclipart-svg && python scripts/build_clipart.py`

The labelled sentences (VADER corpora) are described in `text/README.md` (built by
`scripts/build_text.py`), the word vectors (GloVe 6B, the 40,000 most frequent words) in
`glove/README.md` (built by `scripts/build_glove.py`).

- `clipart/clipart.npz`, labelled (`np.load`; no pickle): `images` uint8 ({n}, 128, 128, 3)
  RGB; `labels` int64 ({n},), indices into `classes`; `classes` str ({c},), sorted; `sources`
  str ({n},), paths relative to `/usr/share/openclipart/png`. Sorted by (class, source).
- `clipart/clipart_unlabelled.npz`, for self-supervised pretraining: `images` uint8
  ({m}, 64, 64, 3) RGB; `sources` str ({m},). No labels; no file (nor identical copy) shared
  with the labelled set or the capstone folder.
- `capstone_images/<class>/<name>.png`: {k} 128x128 RGB PNGs, ImageFolder layout.
- `clipart/clipart_fewshot.npz`, classes for few-shot learning (notebook 09): `images` uint8
  ({f}, 64, 64, 3) RGB; `labels`, `classes` ({fc},), `sources` as in `clipart.npz`. No class
  shared with the labelled set or the capstone, and no file matching their rules; {in_pool} of
  its images are also in the unlabelled pool (which the few-shot lesson does not use: a model
  pretrained on the pool has seen those drawings).
- `clipart/SHA256SUMS`, for `sha256sum -c` (a rebuild matches, given the same Pillow and zlib):
```
{sha_l}  clipart.npz
{sha_u}  clipart_unlabelled.npz
{sha_f}  clipart_fewshot.npz
{sha_p}  clipart_pairs.npz
```
- `clipart/clipart_pairs.npz`, image-text pairs for cross-modal learning (notebook 11): `images`
  uint8 ({p}, 64, 64, 3) RGB; `captions` str ({p},), one per image; `sources` str ({p},) as
  above. The captions come from the SVG twins of the same files (Debian `openclipart-svg`);
  see "Image-text pairs" below.

## Classes

{table}

Classes are package folders plus file-name keywords (rules in the script), checked by looking
at every image; off-topic or ambiguous files and files matching two classes are left out.
Classes above {CLASS_MAX} images ({CAPSTONE_MAX} in the capstone) are subsampled evenly by path.
The library is small, so classes are imbalanced, and {bw} labelled images are black-and-white
twins of colour drawings (`bw` in the file name): near-duplicates, best kept on one side of a
split. The pool takes the files the labelled rules match but the set does not use (surplus and
excluded files), then other folders round-robin (no gradient swatches). By origin: {origin}.

## Few-shot classes

{few_table}

Each class is one package folder (its own files, not its subfolders), chosen by looking at
every image: coherent folders of {FEW_MIN}+ drawings. Mixed folders (computer, office, people,
unsorted), icon themes (classes of style rather than of things) and near-duplicate folders
(the same playing cards in three more styles; glossy buttons again as `led`) are left out.
Classes above {FEW_MAX} images are subsampled evenly by path; black-and-white twins are left
out. Skipped: {few_skips}.

## Image-text pairs

Each drawing's SVG file holds a Dublin Core record: a title and keywords. Both are noisy, so
`scripts/_captions.py` cleans them: titles shared by more than {title_max} files name a set
("Lemon SVG theme", "card", "gramastar") and are dropped, as are hash and tool stamps
("HASH(0x8a41038)", "Clipart by NAME - "), words of fewer than two letters, a short list of set,
tool and author tags (`STOP` in the script: "mapsym", "magick", "icons", "theme", ...) and
**every keyword that names one of the file's own folders** (`animals/birds/x.svg`: "animal",
"bird"), so that a caption never gives away the folder, i.e. the category, it was filed under.
The caption is the title's words, then the remaining keywords: "bored dog", "laptop, imac",
"feet in sandals, clothing, shoes". Titles are often Italian or French ("cavallo", "eau non
potable"), kept as they are.

Kept apart: **no drawing of the labelled classes** (no file their rules above match) and **no
caption that names one** ("bat, mammal", "lemon, fruit"), so a zero-shot test on `clipart.npz`
meets classes the pairs neither showed nor named; files whose caption is
empty after cleaning; repeated captions (one drawing per distinct caption, the first by path);
black-and-white twins; gradient swatches. At most {PAIR_FOLDER_MAX} pairs per folder (two
levels; spread evenly by path), so no set dominates (there are hundreds of flags). {p} pairs
from {pair_folders} folders; skipped: {pair_skips}. Examples:

| source | caption |
|---|---|
{pair_examples}

Size: `clipart.npz` is about 6 MB (606 RGB images at 128 px, compressed). 128 px is kept
because the pretrained backbone needs that much detail for useful features; the lessons
downscale on load when they need less. All of data/ stays under 30 MB.

## Preprocessing

Composite onto white; crop to the non-white content (any channel < {WHITE_LEVEL}; flags: to
their opaque area); resize keeping the aspect ratio (box reduction, then LANCZOS) to fit the
square less a 1/32 margin; centre on white. Skipped: unreadable files, files or content under
{MIN_SIDE} px, near-blank results (> {MAX_WHITE:.0%} white). Skipped among labelled and capstone
candidates: {skips}; while filling the pool: {pool_skips}.

## Source and licence

The Open Clip Art Library (<https://openclipart.org>), packaged by Debian ({PACKAGE}). Per
`/usr/share/doc/openclipart-png/copyright` (and `openclipart-svg`'s), the works are under the
Creative Commons Public Domain Dedication (Copyright-Only Dedication / Public Domain
Certification) and may be "freely reproduced, distributed, transmitted, used, modified, built
upon, or otherwise exploited by anyone for any purpose, commercial or non-commercial". Authors:
see the file names.
"""

if __name__ == "__main__":
    main()
