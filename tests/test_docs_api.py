"""The generated API reference covers every public name, and every tutorial and
reproduction page is reachable from the docs index."""

import importlib.util
import re
import types
from pathlib import Path

import bayesrl

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _conf():
    spec = importlib.util.spec_from_file_location("docs_conf", DOCS / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_subpackage_has_an_api_page_except_the_trainer_adapters():
    sections = {name for name, _, _ in _conf().API_SECTIONS}
    subpackages = {
        f"bayesrl.{name}"
        for name in bayesrl.__all__
        if isinstance(getattr(bayesrl, name), types.ModuleType)
    }
    assert subpackages - sections == {"bayesrl.integrations"}


def test_api_pages_list_every_exported_name(tmp_path):
    conf = _conf()
    count = conf.write_api_pages(tmp_path)
    listed = 0
    for module_name, _, _ in conf.API_SECTIONS:
        page = (tmp_path / "api" / f"{module_name.replace('.', '_')}.md").read_text()
        rows = set(re.findall(r"^   (\w+)$", page, re.M))
        module = importlib.import_module(module_name)
        exported = {
            name
            for name in module.__all__
            if not name.startswith("__")
            and not isinstance(getattr(module, name), types.ModuleType)
        }
        assert rows == exported, module_name
        listed += len(rows)
    assert count == listed


def test_tutorials_and_reproductions_are_in_the_index():
    index = (DOCS / "index.md").read_text()
    for folder in ("tutorials", "reproductions"):
        for page in (DOCS / folder).glob("*.md"):
            assert f"{folder}/{page.stem}" in index, page.name
