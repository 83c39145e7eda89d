from pathlib import Path

import pytest

from crmss.core.errors import InputError
from crmss.dataset.splits import default_split_path, read_split, write_split

SHARED = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "whus2cr"
    / "Training and testing list of WHUS2-CR.csv"
)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared is not beside this checkout")
def test_packaged_split_list_is_the_published_file_byte_for_byte():
    assert default_split_path().read_bytes() == SHARED.read_bytes()


def test_published_list_parses_to_28_training_and_8_testing_pairs(pairs):
    assert [p.subset for p in pairs].count("train") == 28
    assert [p.subset for p in pairs].count("test") == 8
    assert len({p.key for p in pairs}) == 36
    first = pairs[0]
    assert (first.subset, first.number, first.key, first.tile) == (
        "train",
        1,
        "R075_T50TMK",
        "50TMK",
    )
    assert first.clear == "S2A_MSIL1C_20160403T030602_N0201_R075_T50TMK_20160403T031209"
    assert first.cloudy == "S2A_MSIL1C_20160413T031632_N0201_R075_T50TMK_20160413T031626"
    assert all(p.key == p.cloudy[33:44] == p.clear[33:44] for p in pairs)
    assert pairs[28].key == "R064_T37UCQ" and pairs[28].subset == "test" and pairs[28].number == 1


def test_written_split_list_reads_back(tmp_path, pairs):
    path = tmp_path / "s.csv"
    write_split(path, pairs)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in path.read_bytes()
    assert read_split(path) == pairs


def test_plain_lf_without_bom_is_accepted(tmp_path, pairs):
    path = tmp_path / "s.csv"
    path.write_text(default_split_path().read_text(encoding="utf-8-sig").replace("\r\n", "\n"))
    assert read_split(path) == pairs


CLEAR = "S2A_MSIL1C_20160403T030602_N0201_R075_T50TMK_20160403T031209"
CLOUDY = "S2A_MSIL1C_20160413T031632_N0201_R075_T50TMK_20160413T031626"


@pytest.mark.parametrize(
    "text, line, words",
    [
        (f"1,Cloud-free,{CLEAR}\n,Cloudy,{CLOUDY}\n", 1, "before any 'Training set'"),
        (f"Training set,,\n1,Clear,{CLEAR}\n,Cloudy,{CLOUDY}\n", 2, "not 'Cloud-free' or 'Cloudy'"),
        (
            f"Training set,,\n1,Cloud-free,S2A_MSIL2A_{CLEAR[11:]}\n,Cloudy,{CLOUDY}\n",
            2,
            "not a Sentinel-2 L1C product name",
        ),
        (f"Training set,,\n1,Cloud-free,{CLEAR}\nTesting set,,\n", 2, "without its second product"),
        (
            f"Training set,,\n1,Cloud-free,{CLEAR}\n,Cloudy,{CLOUDY.replace('T50TMK', 'T50TML')}\n",
            3,
            "not of one orbit and tile",
        ),
        (f"Training set,,\n1,Cloud-free,{CLEAR}\n2,Cloudy,{CLOUDY}\n", 3, "leave the number empty"),
        (
            f"Training set,,\n1,Cloudy,{CLEAR}\n,Cloudy,{CLOUDY}\n",
            3,
            "one 'Cloud-free' and one 'Cloudy'",
        ),
    ],
)
def test_malformed_split_lists_name_file_and_line(tmp_path, text, line, words):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        read_split(path)
    assert f"{path}, line {line}: " in str(error.value) and words in str(error.value)
    assert "published WHUS2-CR layout" in str(error.value)


def test_duplicate_pair_keys_and_binary_files_are_refused(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text(
        "Training "
        f"set,,\n1,Cloud-free,{CLEAR}\n,Cloudy,{CLOUDY}\n2,Cloud-free,{CLEAR}\n,Cloudy,{CLOUDY}\n"
    )
    with pytest.raises(InputError, match="R075_T50TMK occur more than once"):
        read_split(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(InputError, match="not a text CSV"):
        read_split(path)
    with pytest.raises(InputError, match="cannot read the split list"):
        read_split(tmp_path / "absent.csv")
