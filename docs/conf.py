"""Sphinx configuration: MyST pages and notebooks (myst-nb), API from docstrings.

Build (warnings are errors, tutorials executed): ``bash .ci/docs.sh``, or
``pip install -e ".[docs,plot]" && sphinx-build -W docs docs/_build/html``.

The API reference is generated here, before the build, from the ``__all__`` of
every public subpackage: ``docs/api/<subpackage>.md`` lists those names in an
``autosummary`` table and autosummary writes one page per name.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import bayesrl

project = "bayesrl"
release = bayesrl.__version__
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
# jupyter_execute: myst-nb's executed copies, written beside the output folder.
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints"]
html_theme = "furo"
html_title = f"bayesrl {release}"
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# Tutorials are MyST notebooks executed at every build, at small sizes.
nb_execution_mode = os.environ.get("BAYESRL_DOCS_EXECUTE", "force")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_excludepatterns: list[str] = []

templates_path = ["_templates"]
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# (subpackage, title, one line) in the order of the package layout.
API_SECTIONS = [
    ("bayesrl", "bayesrl", "The core: agents, the runner, the serving facades."),
    ("bayesrl.beliefs", "bayesrl.beliefs", "Posterior models (one per file)."),
    ("bayesrl.bandits", "bayesrl.bandits", "Decision rules and bandit agents."),
    ("bayesrl.envs", "bayesrl.envs", "Environments (gymnax subclasses)."),
    ("bayesrl.psrl", "bayesrl.psrl", "Posterior sampling for RL."),
    ("bayesrl.langevin", "bayesrl.langevin", "Langevin Monte Carlo."),
    ("bayesrl.prompts", "bayesrl.prompts", "Online prompt selection (MoPPS)."),
    ("bayesrl.eval", "bayesrl.eval", "Intervals, plots, evaluation protocols."),
    ("bayesrl.random", "bayesrl.random", "Fast jittable samplers."),
    ("bayesrl.testing", "bayesrl.testing", "Conformance checks for new agents."),
]


def public_names(module_name: str) -> list[str]:
    """The public names a subpackage exports (its ``__all__``, minus modules)."""
    module = importlib.import_module(module_name)
    names = []
    for name in module.__all__:
        value = getattr(module, name)
        if name.startswith("__") or type(value).__name__ == "module":
            continue
        names.append(name)
    return sorted(names, key=str.lower)


def write_api_pages(root: Path) -> int:
    """Write ``api/index.md`` and one page per subpackage; return the name count."""
    api = root / "api"
    api.mkdir(exist_ok=True)
    total = 0
    toc = []
    for module_name, title, line in API_SECTIONS:
        names = public_names(module_name)
        total += len(names)
        slug = module_name.replace(".", "_")
        toc.append(slug)
        rows = "\n".join(f"   {name}" for name in names)
        page = (
            f"# `{title}`\n\n{line}\n\n"
            f"```{{eval-rst}}\n.. automodule:: {module_name}\n   :no-members:\n\n"
            f".. currentmodule:: {module_name}\n\n"
            f".. autosummary::\n   :toctree: _generated\n   :nosignatures:\n\n"
            f"{rows}\n```\n"
        )
        _write_if_changed(api / f"{slug}.md", page)
    index = (
        "# API reference\n\nEvery public name of every subpackage, generated from "
        f"the docstrings ({total} names). The trainer adapters "
        "(`bayesrl.integrations`) are documented in "
        "[MoPPS in verl, TRL and OpenRLHF](../prompts_integrations.md).\n\n"
        "```{toctree}\n:maxdepth: 1\n\n" + "\n".join(toc) + "\n```\n"
    )
    _write_if_changed(api / "index.md", index)
    return total


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


API_NAME_COUNT = write_api_pages(Path(__file__).parent)


RESULTS = Path(__file__).parents[1] / "benchmarks" / "results"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    cells = [[str(cell).replace("|", "\\|") for cell in row] for row in rows]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def _interval(mean: float, half: float) -> str:
    return f"{mean:.4g} ± {half:.2g}"


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


REGRET_HEADER = ["instance", "agent", "T", "seeds", "regret (95%)"]


def _bandit_sections() -> list[str]:
    """The K-armed and contextual regret tables."""
    bandits = [
        [r["instance"], r["agent"], r["horizon"], r["seeds"]]
        + [_interval(r["regret"], r["ci95"])]
        for r in _load("bandits.json")["regret"]
    ]
    contextual = [
        [r["instance"], r["agent"], r["num_steps"], r["num_seeds"]]
        + [_interval(r["regret_mean"], r["regret_95_half_width"])]
        for r in _load("contextual.json")["regret"]["rows"]
    ]
    return [
        "## K-armed bandits (`bandits.json`)\n",
        _table(REGRET_HEADER, bandits),
        "## Contextual bandits (`contextual.json`)\n",
        _table(REGRET_HEADER, contextual),
    ]


def _rl_sections() -> list[str]:
    """The PSRL families, the Langevin N-chain table and the prompt simulator."""
    out = []
    psrl = _load("psrl_full_fmdp_hard.json")
    for family in ("fmdp", "hard"):
        rows = [
            [name, _interval(*agent["cumulative_regret"])]
            for name, agent in psrl[family]["agents"].items()
        ]
        out += [
            f"## PSRL, random FMDP family `{family}` "
            "(`psrl_full_fmdp_hard.json`, 500 episodes, 20 seeds)\n",
            _table(["agent", "cumulative regret (95%)"], rows),
        ]
    nchain = _load("langevin_full_table.json")["nchain"]
    rows = [[name, _interval(r["mean"], r["ci95"])] for name, r in nchain.items()]
    out += [
        "## Langevin, N-chain (`langevin_full_table.json`, 20 seeds)\n",
        _table(["method / N", "score (95%)"], rows),
    ]
    metrics = ("zero_variance_fraction", "steps_to_target", "final_accuracy")
    methods = _load("prompts.json")["simulator"][0]["methods"]
    rows = [
        [name] + [_interval(m[k]["mean"], m[k]["half_width"]) for k in metrics]
        for name, m in methods.items()
    ]
    out += [
        "## Prompt selection, simulator (`prompts.json`, 3 seeds)\n",
        _table(["method", *metrics], rows),
    ]
    return out


def write_benchmarks_page(root: Path) -> None:
    """``benchmarks.md``: the committed results as tables, regenerated every build."""
    intro = (
        "# Benchmark results\n\nGenerated at build time from the committed files "
        "in `benchmarks/results/` (one per suite; see its `README.md` for the "
        "commands and dates). Means with 95% intervals over seeds, single runs. "
        "The reproduction pages discuss them.\n\n"
    )
    sections = _bandit_sections() + _rl_sections()
    _write_if_changed(root / "benchmarks.md", intro + "\n".join(sections))


write_benchmarks_page(Path(__file__).parent)


def _constant_doc(app, what, name, obj, options, lines):
    """A constant's doc is its ``#:`` comment in the module that defines it (not
    the docstring of its type, ``dict`` or ``tuple``)."""
    if what != "data":
        return
    from sphinx.pycode import ModuleAnalyzer

    package, _, attribute = name.rpartition(".")
    module = importlib.import_module(package)
    candidates = [package]
    if hasattr(module, "__path__"):
        candidates += [f"{package}.{sub}" for sub in _submodules(module)]
    for candidate in candidates:
        try:
            docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        except Exception:  # a module without source: try the next one
            continue
        if ("", attribute) in docs:
            lines[:] = list(docs[("", attribute)])
            return
    lines[:] = []


def _submodules(module) -> list[str]:
    import pkgutil

    return [info.name for info in pkgutil.iter_modules(module.__path__)]


def setup(app):
    app.connect("autodoc-process-docstring", _constant_doc)
