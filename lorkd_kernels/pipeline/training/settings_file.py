"""Settings files: ``--config FILE`` (JSON, or YAML when PyYAML is installed) and the
``config.json`` a run saves, which is itself a valid ``--config`` file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

from .config import ConfigError, setting_names

# The key that marks a config.json as written by the training command (a file of the user's
# own in --out is never replaced); ignored when the file is read back.
WRITTEN_BY = "written_by"
WRITER = "lorkd_kernels.train"


# A settings file is a few dozen keys: anything far larger, or a YAML file repeating its
# anchors many times (an "alias bomb" expands exponentially in whoever walks it), is refused.
MAX_BYTES = 1 << 20
MAX_YAML_ALIASES = 100


def _load_yaml(yaml, text: str, path: Path, source: str) -> Any:
    class Loader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    raise ConfigError(
                        f"{source} {str(path)!r} repeats YAML aliases more than "
                        f"{MAX_YAML_ALIASES} times: not a settings file"
                    )
            return super().compose_node(parent, index)

    loader = Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _parse(path: Path, text: str, source: str) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(
                f"{source} {str(path)!r} is YAML, but PyYAML is not installed "
                f"(pip install pyyaml, or give the settings as JSON)"
            ) from None
        try:
            return _load_yaml(yaml, text, path, source)
        except yaml.YAMLError as err:
            raise ConfigError(
                f"{source} {str(path)!r} is not valid YAML: {str(err).splitlines()[0]}"
            ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source} {str(path)!r} is not valid JSON: {err}") from None


def read_settings(path: str | Path, source: str = "--config") -> Dict[str, Any]:
    """The settings in ``path`` (keys as in config.json); ``source`` names it in errors."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(
                f"{source} {str(path)!r} is larger than {MAX_BYTES} bytes: not a settings file"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{source} {str(path)!r} cannot be read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{source} {str(path)!r} is not UTF-8 text (byte {err.start}): not a settings file"
        ) from None
    values = _parse(path, text, source)
    if not isinstance(values, dict):
        raise ConfigError(
            f"{source} {str(path)!r} must hold a mapping of settings, not {type(values).__name__}"
        )
    values.pop(WRITTEN_BY, None)
    unknown = sorted(set(values) - set(setting_names()))
    if unknown:
        raise ConfigError(
            f"{source} {str(path)!r}: unknown setting(s) {unknown}; the keys are "
            f"those of a run's config.json"
        )
    return values


def written_by_training(path: Path) -> bool:
    """Whether ``path`` is a config.json the training command wrote."""
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(values, dict) and str(values.get(WRITTEN_BY, "")).startswith(WRITER)


def saved_form(settings: Dict[str, Any], version: str) -> Dict[str, Any]:
    """What config.json holds: the settings and the mark of the command that wrote them."""
    return {**settings, WRITTEN_BY: f"{WRITER} {version}"}
