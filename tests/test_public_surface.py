"""First-hour surface: subpackages after ``import bayesrl``, documented env params."""

import pydoc
import subprocess
import sys

import bayesrl
from bayesrl import envs

SUBPACKAGES = (
    "bandits",
    "beliefs",
    "envs",
    "eval",
    "integrations",
    "langevin",
    "prompts",
    "psrl",
    "random",
    "testing",
)


def test_every_subpackage_is_an_attribute_after_a_fresh_import():
    code = (
        "import bayesrl, sys\n"
        f"for name in {SUBPACKAGES!r}:\n"
        "    module = getattr(bayesrl, name)\n"
        "    assert module.__name__ == 'bayesrl.' + name, name\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_lists_the_subpackages_and_dir_shows_them():
    for name in SUBPACKAGES:
        assert name in bayesrl.__all__
        assert name in dir(bayesrl)


def test_unknown_attribute_still_raises():
    try:
        bayesrl.no_such_thing  # noqa: B018
    except AttributeError as error:
        assert "no_such_thing" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_help_of_bandit_envs_says_how_to_set_the_instance():
    for env_class in (envs.BernoulliBandit, envs.GaussianBandit):
        text = pydoc.render_doc(env_class)
        assert "default_params.replace(means=" in text
        assert "num_arms" in text
