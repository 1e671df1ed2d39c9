"""``nvr.config_lines``: TOML key paths to line numbers, for config error messages."""

from __future__ import annotations

import tomllib

from nvr.config_lines import find_line, line_index


def test_top_level_keys_tables_and_their_keys() -> None:
    text = (
        "# a comment\n"            # 1
        "\n"                        # 2
        "title = 'x'\n"             # 3
        "[server]\n"                # 4
        "host = '127.0.0.1'\n"      # 5
        "  port   =   8080\n"       # 6 indented, spaced
        "[log]  # trailing comment\n"  # 7
        "level = 'info'\n"          # 8
    )
    index = line_index(text)
    assert index[("title",)] == 3
    assert index[("server",)] == 4
    assert index[("server", "host")] == 5
    assert index[("server", "port")] == 6
    assert index[("log",)] == 7
    assert index[("log", "level")] == 8


def test_comments_and_blank_lines_are_not_keys() -> None:
    index = line_index("# port = 1\n\n   # [server]\n[server]\n# host = 'x'\n")
    assert index == {("server",): 4}


def test_array_of_tables_counts_elements_and_subtables_follow_the_current_one() -> None:
    text = (
        "[[cameras]]\n"                         # 1
        "name = 'a'\n"                          # 2
        "[cameras.onvif]\n"                     # 3
        "host = '127.0.0.1'\n"                  # 4
        "[[cameras]]\n"                         # 5
        "name = 'b'\n"                          # 6
        "[cameras.stream]\n"                    # 7
        "main = 'rtsp://127.0.0.1/b'\n"         # 8
        "[[cameras]]  # third\n"                # 9
        "name = 'c'\n"                          # 10
        "[plugins.camera_log]\n"                # 11
        "level = 'debug'\n"                     # 12
    )
    tomllib.loads(text)  # the fixture itself is valid TOML
    index = line_index(text)
    assert index[("cameras", 0)] == 1
    assert index[("cameras", 0, "name")] == 2
    assert index[("cameras", 0, "onvif")] == 3
    assert index[("cameras", 0, "onvif", "host")] == 4
    assert index[("cameras", 1)] == 5
    assert index[("cameras", 1, "name")] == 6
    assert index[("cameras", 1, "stream", "main")] == 8
    assert index[("cameras", 2)] == 9
    assert index[("cameras", 2, "name")] == 10
    assert index[("plugins", "camera_log", "level")] == 12


def test_nested_arrays_restart_counting_in_each_parent_element() -> None:
    text = "[[a]]\n[[a.b]]\nx = 1\n[[a.b]]\nx = 2\n[[a]]\n[[a.b]]\nx = 3\n"
    tomllib.loads(text)
    index = line_index(text)
    assert index[("a", 0, "b", 0, "x")] == 3
    assert index[("a", 0, "b", 1, "x")] == 5
    assert index[("a", 1)] == 6
    assert index[("a", 1, "b", 0, "x")] == 8


def test_inline_tables_on_one_line_index_their_keys() -> None:
    text = (
        "[[cameras]]\n"
        "name = 'a'\n"
        'onvif = { host = "127.0.0.1", port = 8000, password = { env = "PW" } }\n'
        "location = {lat=-6.17, lon=106.82}\n"
    )
    tomllib.loads(text)
    index = line_index(text)
    assert index[("cameras", 0, "onvif")] == 3
    assert index[("cameras", 0, "onvif", "host")] == 3
    assert index[("cameras", 0, "onvif", "port")] == 3
    assert index[("cameras", 0, "onvif", "password")] == 3
    assert index[("cameras", 0, "location", "lat")] == 4
    assert index[("cameras", 0, "location", "lon")] == 4


def test_dotted_and_quoted_keys() -> None:
    text = (
        "[[cameras]]\n"
        "stream.main = 'rtsp://127.0.0.1/x'\n"
        "record . retain_days = 7\n"
        '"kelurahan" = "Gambir"\n'
        '[ "plugins" . camera_log ]\n'
        "level = 'info'\n"
    )
    tomllib.loads(text)
    index = line_index(text)
    assert index[("cameras", 0, "stream", "main")] == 2
    assert index[("cameras", 0, "record", "retain_days")] == 3
    assert index[("cameras", 0, "kelurahan")] == 4
    assert index[("plugins", "camera_log")] == 5
    assert index[("plugins", "camera_log", "level")] == 6


def test_first_occurrence_wins() -> None:
    # Invalid TOML (duplicate key), but the index must not crash and keeps the first.
    assert line_index("a = 1\na = 2\n")[("a",)] == 1


def test_multi_line_array_values_belong_to_the_key_line() -> None:
    text = "[discovery]\nunicast = [\n  '127.0.0.1',\n  '127.0.0.2',\n]\nport = 3702\n"
    tomllib.loads(text)
    index = line_index(text)
    assert index[("discovery", "unicast")] == 2
    assert index[("discovery", "port")] == 6
    assert not any(len(path) > 2 for path in index)


def test_find_line_falls_back_to_the_nearest_known_parent() -> None:
    text = "[server]\nport = 1\n[[cameras]]\nname = 'a'\n[cameras.stream]\nsub = 'rtsp://x'\n"
    index = line_index(text)
    assert find_line(index, ("server", "port")) == 2
    assert find_line(index, ("server", "host")) == 1            # missing key: its table
    assert find_line(index, ("cameras", 0, "stream", "main")) == 5
    assert find_line(index, ("cameras", 0, "onvif", "host")) == 3  # no onvif table: the camera
    assert find_line(index, ("discovery", "interface")) is None
    assert find_line(index, ()) is None


def test_empty_text() -> None:
    assert line_index("") == {}
