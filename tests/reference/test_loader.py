"""The reference-data loader: each shipped table with its version and the SHA-256 of its bytes."""

from __future__ import annotations

import hashlib
from importlib.resources import files

import pytest

from circulith.errors import NotFound
from circulith.reference import loader


def _file_bytes(name: str) -> bytes:
    return files("circulith.reference").joinpath("data", name).read_bytes()


def test_every_shipped_table_has_the_digest_of_its_bytes() -> None:
    names = loader.table_names()
    assert "prices.csv" in names and "grading_rules_v1.toml" in names
    for info in loader.catalogue():
        assert info.sha256 == hashlib.sha256(_file_bytes(info.name)).hexdigest(), info.name
        assert info.size_bytes == len(_file_bytes(info.name))
        assert info.version


def test_versions_come_from_the_document_or_its_name() -> None:
    # demo_fleet.toml declares version = "2026.11"; grading_rules_v1.toml declares its own version key
    assert loader.table_info("demo_fleet.toml").version == "2026.11"
    rules = loader.read_toml("grading_rules_v1.toml")
    assert rules.info.version == str(rules.data["version"])


def test_csv_and_toml_readers_return_the_content_with_its_info() -> None:
    table = loader.read_csv("chemistries.csv")
    assert "code" in table.frame.columns and "source" in table.frame.columns
    assert table.info == loader.table_info("chemistries.csv")
    doc = loader.read_toml("network_defaults.toml")
    assert doc.data and doc.info.name == "network_defaults.toml"


def test_loaders_migrated_onto_it_are_cited() -> None:
    from circulith.passport.attributes import read_passport_attributes
    from circulith.reference.chemistries import chemistry_table
    from circulith.triage.rules import load_rules

    read_passport_attributes()
    chemistry_table()
    load_rules()
    cited = {c.name for c in loader.citations()}
    assert {"passport_attributes.csv", "chemistries.csv", "grading_rules_v1.toml"} <= cited


@pytest.mark.parametrize("name", ["nope.csv", "../pyproject.toml", "data/prices.csv"])
def test_unknown_tables_are_refused_with_the_known_ones(name: str) -> None:
    with pytest.raises(NotFound, match="no shipped reference table"):
        loader.read_bytes(name)
