"""Matrix and phenotype files: both matrix formats, and one clear error per bad input."""

import gzip

import numpy as np
import pytest

from tacit.errors import InputError
from tacit.tables import (PredictionMatrix, phenotype_species, read_matrix, read_phenotypes, write_matrix,
                          write_tacit_matrix)


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def species(tmp_path):
    return write(tmp_path / "species.txt", "Aa_bb\nCc_dd\nEe_ff\n")


def test_tacit_format_minus_one_is_missing(tmp_path, species):
    m = read_matrix(write(tmp_path / "m.tsv", "o1\t0.5\t-1\t0.25\no2\t1\t0\t-1\n"), species)
    assert m.ocrs == ["o1", "o2"] and m.species == ["Aa_bb", "Cc_dd", "Ee_ff"]
    assert np.isnan(m.values[0, 1]) and m.values[0, 2] == 0.25 and np.isnan(m.values[1, 2])


def test_round_trip_between_formats(tmp_path):
    m = PredictionMatrix(["a", "b"], ["S_one", "S_two"], np.array([[0.1, np.nan], [np.nan, 0.9]]))
    write_matrix(m, tmp_path / "p.tsv.gz")
    with gzip.open(tmp_path / "p.tsv.gz", "rt") as handle:
        assert handle.readline() == "ocr\tS_one\tS_two\n"
    ours = read_matrix(tmp_path / "p.tsv.gz")
    write_tacit_matrix(ours, tmp_path / "matrix.tsv", tmp_path / "species.txt")
    theirs = read_matrix(tmp_path / "matrix.tsv", tmp_path / "species.txt")
    np.testing.assert_array_equal(ours.values, theirs.values)
    assert (tmp_path / "matrix.tsv").read_text().splitlines()[0] == "a\t0.100000\t-1"


def test_gzip_output_is_reproducible(tmp_path):
    m = PredictionMatrix(["a"], ["S_one"], np.array([[0.5]]))
    write_matrix(m, tmp_path / "x.tsv.gz")
    first = (tmp_path / "x.tsv.gz").read_bytes()
    write_matrix(m, tmp_path / "x.tsv.gz")
    assert (tmp_path / "x.tsv.gz").read_bytes() == first


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("o1\t0.5\t0.1\n", "expected 4 columns", 1),
        ("o1\t0.5\t0.1\t0.2\t0.3\n", "expected 4 columns", 1),
        ("o1\t0.5\t0.1\t0.2\no2\t0.5\tabc\t0.2\n", "'abc' for species Cc_dd is not a number", 2),
        ("o1\t0.5\t0.1\t0.2\no1\t0.5\t0.1\t0.2\n", "appears twice", 2),
        ("", "no rows", None),
    ],
)
def test_bad_matrix(tmp_path, species, text, message, line):
    path = write(tmp_path / "m.tsv", text)
    with pytest.raises(InputError, match=message) as err:
        read_matrix(path, species)
    assert err.value.path == str(path) and err.value.line == line


def test_duplicate_species_in_list(tmp_path):
    species = write(tmp_path / "s.txt", "Aa_bb\nCc_dd\nAa bb\n")
    with pytest.raises(InputError, match="listed twice") as err:
        read_matrix(write(tmp_path / "m.tsv", "o\t1\t1\t1\n"), species)
    assert err.value.line == 3


def test_phenotypes_normalise_names_and_skip_unknown(tmp_path):
    path = write(tmp_path / "p.csv", "species,mass,flag\nAa bb,1.5,1\nCc_dd,,0\nEe_ff,NA,1\n")
    mass = read_phenotypes(path, "mass")
    assert mass.to_dict() == {"Aa_bb": 1.5}
    assert read_phenotypes(path, "flag", binary=True).to_dict() == {"Aa_bb": 1.0, "Cc_dd": 0.0, "Ee_ff": 1.0}


@pytest.mark.parametrize("header", ["Species Name", "species_name", "SPECIES", " Species  Name "])
def test_phenotypes_read_tacits_species_name_column(tmp_path, header):
    """TACIT's phenotype files name the species column 'Species Name' (and put a space after the comma)."""
    path = write(tmp_path / "p.csv", f"{header}, Vocal_Learner\nLepus americanus,0\nHomo sapiens,1\nMus musculus,NA\n")
    assert read_phenotypes(path, "Vocal_Learner", binary=True).to_dict() == {"Lepus_americanus": 0.0,
                                                                            "Homo_sapiens": 1.0}
    assert phenotype_species(path) == {"Lepus_americanus": "Lepus americanus", "Homo_sapiens": "Homo sapiens",
                                       "Mus_musculus": "Mus musculus"}


def test_a_species_column_is_ours_whatever_the_others_are_called(tmp_path):
    path = write(tmp_path / "p.csv", "Species,species,Species Name\n1,Aa bb,0\n0,Cc_dd,1\n")
    assert read_phenotypes(path, "Species", binary=True).to_dict() == {"Aa_bb": 1.0, "Cc_dd": 0.0}
    assert read_phenotypes(path, "Species Name", binary=True).to_dict() == {"Aa_bb": 0.0, "Cc_dd": 1.0}


@pytest.mark.parametrize(
    "text, trait, binary, message",
    [
        ("species,mass\nAa_bb,1\n", "size", False, "trait column 'size' not found"),
        ("name,mass\nAa_bb,1\n", "mass", False, "no species column .'species' or TACIT's 'Species Name'"),
        ("Species Name,species_name,mass\nAa_bb,Aa bb,1\n", "mass", False, "more than one species column"),
        ("species,mass\nAa_bb,heavy\n", "mass", False, "'heavy' for Aa_bb is not a number"),
        ("species,flag\nAa_bb,2\n", "flag", True, "must be 0 or 1"),
        ("species,mass\nAa_bb,1\nAa bb,2\n", "mass", False, "appears twice"),
    ],
)
def test_bad_phenotypes(tmp_path, text, trait, binary, message):
    path = write(tmp_path / "p.csv", text)
    with pytest.raises(InputError, match=message) as err:
        read_phenotypes(path, trait, binary=binary)
    assert err.value.path == str(path)
