"""analysis.economics.catalogue: the GPU catalogue and the model-size fit rule, read from data/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.economics import catalogue
from analysis.errors import NotFound
from analysis.reference import reference_file


def test_catalogue_has_the_expected_gpus():
    names = {g.name for g in catalogue.gpus()}
    assert names == {"L4", "A10G", "L40S", "A100 40GB", "A100 80GB", "H100 80GB", "RTX 4090", "T4",
                     "H200 141GB", "B200", "MI300X"}


def test_every_entry_is_cited_and_sane():
    for g in catalogue.gpus():
        assert 8 <= g.memory_gb <= 200
        assert 0 < g.hourly_usd < 20
        assert g.price_source.provider and g.price_source.citation
        assert re.fullmatch(r"20\d\d-\d\d", g.price_source.as_listed)
        assert g.price_citation.endswith(f"as listed on {g.price_source.as_listed}")


def test_well_known_list_prices():
    assert catalogue.gpu("A10G").hourly_usd == 1.006  # AWS g5.xlarge
    assert catalogue.gpu("L4").hourly_usd == pytest.approx(0.805, abs=0.001)  # AWS g6.xlarge
    assert catalogue.gpu("H100 80GB").hourly_usd == 2.49  # Lambda


def test_lookup_ignores_case_and_lists_names_when_unknown():
    assert catalogue.gpu("  h100 80gb ").name == "H100 80GB"
    with pytest.raises(NotFound, match="unknown GPU 'V100'.*L4"):
        catalogue.gpu("V100")


def test_reference_data_is_the_checkouts_data_folder():
    """The package `analysis.data` is the top-level `data/` (pyproject maps it), file for file."""
    checkout_data = Path(__file__).resolve().parent.parent / "data"
    for name in ("gpus.json", "models.json", "benchmarks.json", "demo_templates.json"):
        assert reference_file(name).read_bytes() == (checkout_data / name).read_bytes()


def test_every_gpu_has_cited_datasheet_figures():
    """Bandwidth and dense bf16 are what a sizing model needs for every card; each is cited."""
    for g in catalogue.gpus():
        assert g.memory_bandwidth_gbs and 100 <= g.memory_bandwidth_gbs <= 10_000, g.name
        assert g.bf16_tflops and 10 <= g.bf16_tflops <= 5_000, g.name
        assert g.int8_tops and g.int8_tops >= g.bf16_tflops, g.name
        assert g.fp8_tflops is None or g.fp8_tflops >= g.bf16_tflops, g.name
        assert g.interconnect and g.interconnect_gbs and g.interconnect_gbs > 0, g.name
        assert g.spec_source and g.spec_source.startswith("https://"), g.name
        assert g.spec_as_of and re.fullmatch(r"20\d\d-\d\d", g.spec_as_of), g.name


def test_datasheet_bandwidths_of_known_cards():
    """GB/s from the datasheets: the A100 80GB is Google's SXM4 (2,039); the H100 80GB is the PCIe card
    Lambda's price is for (2,000; the SXM5 module has 3,350)."""
    expected = {"T4": 320, "L4": 300, "A10G": 600, "RTX 4090": 1008, "L40S": 864, "A100 40GB": 1555,
                "A100 80GB": 2039, "H100 80GB": 2000, "H200 141GB": 4800, "MI300X": 5300}
    for name, gbs in expected.items():
        assert catalogue.gpu(name).memory_bandwidth_gbs == gbs, name
    assert "3,350" in catalogue.gpu("H100 80GB").spec_note  # the SXM figure, named beside the PCIe one


def test_dense_figures_not_sparse_and_gaps_explained():
    assert catalogue.gpu("H200 141GB").bf16_tflops == 989  # 1,979 is the sparse figure
    assert catalogue.gpu("L4").bf16_tflops == 121
    for name in ("T4", "A10G", "A100 40GB", "A100 80GB"):
        assert catalogue.gpu(name).fp8_tflops is None, name  # no fp8 before Ada/Hopper
    assert "fp16" in catalogue.gpu("T4").spec_note  # T4 has no bf16: the figure is fp16


def test_added_gpus_are_priced_like_the_others():
    for name in ("H200 141GB", "B200", "MI300X"):
        g = catalogue.gpu(name)
        assert g.price_source.provider and g.price_source.citation and g.memory_bandwidth_gbs, name
