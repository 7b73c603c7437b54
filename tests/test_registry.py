"""The one registry type: entry points, module:Class references, the duplicate rule, one-line errors."""

from __future__ import annotations

import sys
import textwrap

import pytest

from linksim.codecs import CODECS, Codec, Transport, register_codec
from linksim.data.registry import SOURCES
from linksim.errors import PluginError, UnknownName
from linksim.metrics.table import METRICS
from linksim.phy.channels import CHANNELS
from linksim.registry import Registry, is_reference


def test_builtins_are_entry_points_of_linksim():
    for registry, names in ((CODECS, {"raw", "jpeg", "jpeg2000", "hevc", "avif", "webp", "hsc", "caption_latent", "bridge",
                                               "deepjscc"}),
                            (CHANNELS, {"awgn", "rayleigh", "tdl", "cdl", "umi", "uma"}),
                            (SOURCES, {"digits28", "photos", "folder", "mnist", "digits-av"}),
                            (METRICS, {"ber", "bler", "mse", "psnr", "ssim", "lpips", "fid", "probe_acc"})):
        assert names <= set(registry.names())
        for name in names:
            origin = registry.origin(name)
            assert origin.kind == "built-in" and origin.distribution == "linksim", (name, origin)


def test_listing_imports_nothing():
    # names come from the entry points' metadata: no codec module is imported to list them
    code = "import sys; from linksim.codecs import CODECS; CODECS.names(); " \
           "print(any(m.startswith('linksim.codecs.bridge') for m in sys.modules))"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownName, match=r"unknown codec type 'telepathy' \(known: .*raw"):
        CODECS["telepathy"]
    with pytest.raises(ValueError):  # an UnknownName is a ValueError for callers that expect one
        CODECS.resolve("telepathy")


class _Tiny(Codec):
    default_streams = {"data": Transport(path="analog")}
    analog_streams = frozenset({"data"})


def test_register_same_class_twice_is_allowed_and_another_class_is_not():
    reg = Registry("codec type", "linksim.nothing-here")
    reg.register("tiny", _Tiny)
    reg.register("tiny", _Tiny)  # re-running a notebook cell

    class _Tiny2(Codec):  # another class under the same name
        default_streams = {"data": Transport()}

    with pytest.raises(ValueError, match="already registered"):
        reg.register("tiny", _Tiny2)


def test_redefined_class_replaces_the_old_one():
    # a notebook cell defining the class again creates a new class object with the same qualname
    namespace: dict = {"__name__": "notebook_cell"}
    src = textwrap.dedent("""
        from linksim.codecs import Codec, Transport
        class Cell(Codec):
            default_streams = {"data": Transport()}
    """)
    exec(src, namespace)
    first = namespace["Cell"]
    register_codec("test-notebook-cell")(first)
    exec(src, namespace)
    second = namespace["Cell"]
    assert second is not first
    register_codec("test-notebook-cell")(second)
    assert CODECS["test-notebook-cell"] is second
    assert second.type_name == "test-notebook-cell"


def test_a_builtin_name_cannot_be_taken():
    with pytest.raises(ValueError, match="'raw' is already registered"):
        register_codec("raw")(_Tiny)


def test_registry_checks_what_is_registered():
    with pytest.raises(PluginError, match="expected a subclass of linksim.codecs.Codec"):
        CODECS.register("not-a-codec", int)


def test_references(tmp_path, monkeypatch):
    assert is_reference("mypkg.codecs:MyCodec") and is_reference("m:C.Inner")
    assert not is_reference("raw") and not is_reference("folder:/data") and not is_reference("a:b:c")
    (tmp_path / "refmod_ok.py").write_text(textwrap.dedent("""
        from linksim.codecs import Codec, Transport
        class Ref(Codec):
            default_streams = {"data": Transport()}
    """))
    (tmp_path / "refmod_broken.py").write_text("import no_such_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = CODECS.resolve("refmod_ok:Ref")
    assert cls.__name__ == "Ref" and cls.type_name == "refmod_ok:Ref"
    assert CODECS.origin("refmod_ok:Ref").kind == "module"
    prov = CODECS.provenance("refmod_ok:Ref")
    assert prov["target"] == "refmod_ok:Ref" and len(prov["source_sha256"]) == 64
    with pytest.raises(PluginError) as e:
        CODECS.resolve("refmod_broken:Ref")
    assert "\n" not in str(e.value)
    assert "refmod_broken:Ref" in str(e.value) and "No module named 'no_such_module_anywhere'" in str(e.value)
    with pytest.raises(PluginError, match="has no attribute 'Missing'"):
        CODECS.resolve("refmod_ok:Missing")


def test_builtins_have_no_provenance_part():
    assert CODECS.provenance("raw") is None
    assert METRICS.provenance("psnr") is None
