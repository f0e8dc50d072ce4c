"""Tests for safe XML parsing (detectkit._xml) and the VOC / CVAT readers on hostile XML."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import defusedxml
import pytest
from defusedxml import ElementTree as DefusedET

from detectkit._xml import guarded_tree, parse_xml
from detectkit.errors import AnnotationParseError
from detectkit.formats import cvat, voc

DATA = Path(__file__).resolve().parent / "data" / "formats"

LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE annotation [\n<!ENTITY lol "lol">\n'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n<annotation><filename>&lol9;</filename></annotation>\n"
)
EXTERNAL = (
    '<?xml version="1.0"?>\n<!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    "<annotation><filename>&xxe;</filename></annotation>\n"
)
PARAMETER = (
    '<?xml version="1.0"?>\n<!DOCTYPE annotation [<!ENTITY % remote SYSTEM "http://example.invalid/x.dtd"> %remote;]>\n'
    "<annotation/>\n"
)
EXTERNAL_DTD = '<?xml version="1.0"?>\n<!DOCTYPE annotation SYSTEM "http://example.invalid/x.dtd">\n<annotation/>\n'
UNPARSED = (
    '<?xml version="1.0"?>\n<!DOCTYPE a [<!NOTATION png SYSTEM "image/png">'
    '<!ENTITY pic SYSTEM "x.png" NDATA png>]>\n<annotation/>\n'
)
ATTACKS = {"laughs": LAUGHS, "external": EXTERNAL, "parameter": PARAMETER, "unparsed": UNPARSED}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_refused_like_defusedxml(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_text(ATTACKS[name])
    with pytest.raises(AnnotationParseError, match=rf"{name}\.xml.*not allowed"):
        parse_xml(path)
    with pytest.raises(defusedxml.DefusedXmlException):  # the reference refuses the same file
        DefusedET.parse(str(path))


def test_external_dtd_is_not_fetched(tmp_path: Path) -> None:
    """An external DTD reference without entity use parses (nothing is fetched), as in defusedxml."""
    path = tmp_path / "dtd.xml"
    path.write_text(EXTERNAL_DTD)
    assert parse_xml(path).tag == "annotation"
    assert DefusedET.parse(str(path)).getroot().tag == "annotation"


@pytest.mark.parametrize("reader", [voc.read, cvat.read])
def test_readers_refuse_laughs_fast(tmp_path: Path, reader: object) -> None:
    path = tmp_path / "annotations.xml"
    path.write_text(LAUGHS.replace("annotation>", "annotations>") if reader is cvat.read else LAUGHS)
    t = time.perf_counter()
    with pytest.raises(AnnotationParseError, match="entity"):
        reader(path)  # type: ignore[operator]
    assert time.perf_counter() - t < 1.0


def test_doctype_without_entities_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE annotation>\n<annotation><size><width>4</width></size></annotation>'
    )
    assert parse_xml(path).find("size/width").text == "4"  # type: ignore[union-attr]


def _canonical(el: ET.Element) -> str:
    return ET.canonicalize(ET.tostring(el, encoding="unicode"))


@pytest.mark.parametrize(
    "path",
    [DATA / "cvat_sample.xml", *sorted((DATA / "voc_sample" / "Annotations").glob("*.xml"))],
    ids=lambda p: p.name,
)
def test_fast_and_guarded_paths_build_the_same_tree(path: Path) -> None:
    data = path.read_bytes()
    assert _canonical(guarded_tree(data)) == _canonical(ET.fromstring(data))
    assert _canonical(parse_xml(path)) == _canonical(ET.parse(path).getroot())


@pytest.mark.parametrize(
    "text",
    [
        '<a xmlns="urn:x" xmlns:p="urn:p" p:k="v"><p:b>t&amp;&#233;</p:b><!-- c --><?pi x?></a>',
        "<a>\n  <b x='1'/>\n  tail\n</a>",
        "\ufeff<a>é</a>",
    ],
)
def test_guarded_tree_matches_elementtree(text: str) -> None:
    data = text.encode("utf-8")
    assert _canonical(guarded_tree(data)) == _canonical(ET.fromstring(data))


def test_malformed_xml_keeps_the_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_text("<!DOCTYPE a>\n<annotation>\n<object>\n</annotation>\n")
    with pytest.raises(ET.ParseError) as info:
        parse_xml(path)
    assert info.value.position[0] == 4
    with pytest.raises(AnnotationParseError, match=r"bad\.xml:4"):
        voc.read(path)
