"""Settings: precedence, types, and that config.example.toml documents every one."""

import re
from pathlib import Path

import pytest

from campfire.config import SETTING_NAMES, ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def test_every_setting_is_documented_in_the_example_with_its_default():
    text = EXAMPLE.read_text()
    keys = re.findall(r"^(\w+)\s*=", text, flags=re.M)
    assert sorted(keys) == sorted(SETTING_NAMES)
    assert load_settings(EXAMPLE, environ={}) == Settings()


def test_precedence_defaults_file_env_flags(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('port = 4000\nhost = "0.0.0.0"\ndb = "file.db"\n')
    s = load_settings(
        conf,
        environ={"CAMPFIRE_PORT": "5000", "CAMPFIRE_DB": "env.db"},
        overrides={"db": "flag.db"},
    )
    assert (s.host, s.port, s.db) == ("0.0.0.0", 5000, "flag.db")
    assert s.session_days == Settings().session_days


def test_environment_values_are_typed():
    s = load_settings(
        environ={
            "CAMPFIRE_WS_COMPRESS": "yes",
            "CAMPFIRE_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "CAMPFIRE_WS_HEARTBEAT": "12.5",
        }
    )
    assert s.ws_compress is True
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert s.ws_heartbeat == 12.5


@pytest.mark.parametrize(
    "content,needle",
    [("port = 'x'", "port"), ("nope = 1", "unknown setting"), ("port = ", "not valid TOML")],
)
def test_bad_config_files_say_what_is_wrong(tmp_path, content, needle):
    conf = tmp_path / "c.toml"
    conf.write_text(content)
    with pytest.raises(ConfigError, match=needle):
        load_settings(conf, environ={})


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_bad_environment_value():
    with pytest.raises(ConfigError, match=r"CAMPFIRE_PORT|port"):
        load_settings(environ={"CAMPFIRE_PORT": "eighty"})
