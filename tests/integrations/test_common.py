"""The adapters' shared core (``bayesrl.integrations._common``): importing it
(or bayesrl) never imports torch or a trainer; id maps, text ids, metrics."""

import subprocess
import sys

import numpy as np
import pytest

from bayesrl.integrations._common import (
    PromptIdMap,
    SelectorAdapter,
    flat_metrics,
    text_ids,
)


def test_import_bayesrl_does_not_import_torch_or_trainers():
    code = (
        "import sys, bayesrl, bayesrl.prompts, bayesrl.integrations, "
        "bayesrl.integrations._common; "
        "print(sorted(m for m in ('torch', 'trl', 'verl', 'openrlhf', "
        "'transformers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_id_map_round_trip_and_refusals():
    ids = np.array([70, 10, 50, 30])
    id_map = PromptIdMap(ids)
    np.testing.assert_array_equal(id_map.positions([30, 70, 70, 10]), [3, 0, 0, 1])
    assert id_map.positions([]).shape == (0,)
    with pytest.raises(ValueError, match="unknown"):
        id_map.positions([30, 31])
    with pytest.raises(ValueError, match="duplicated"):
        PromptIdMap([1, 2, 1])
    with pytest.raises(ValueError, match="missing"):
        PromptIdMap([1, None, 3])
    with pytest.raises(ValueError, match="integers"):
        PromptIdMap([1, 2.5, 3])
    # The checksum follows the ids and their order (dataset identity).
    assert PromptIdMap([10, 70, 50, 30]).checksum != id_map.checksum
    assert PromptIdMap(ids.copy()).checksum == id_map.checksum


def test_text_ids_are_stable_and_distinct():
    texts = [f"prompt {i}" for i in range(1000)]
    first, again = text_ids(texts), text_ids(list(texts))
    np.testing.assert_array_equal(first, again)
    assert np.unique(first).size == 1000 and first.min() >= 0
    assert text_ids(["a"])[0] != text_ids(["a "])[0]


def test_flat_metrics_expands_quantiles_and_drops_non_numbers():
    info = {
        "solve_all": 2,
        "zero_variance_fraction": 0.5,
        "selected_mean_quantiles": [0.1, 0.4, 0.8],
        "note": "text",
    }
    assert flat_metrics(info) == {
        "solve_all": 2.0,
        "zero_variance_fraction": 0.5,
        "selected_mean_q10": 0.1,
        "selected_mean_q50": 0.4,
        "selected_mean_q90": 0.8,
    }


def adapter_and_selection(seed=0):
    adapter = SelectorAdapter(
        PromptIdMap(np.arange(100, 124)), 3, seed=seed, candidate_multiplier=2
    )
    return adapter, adapter.select()


def test_feedback_outside_the_answered_selection_is_refused_untouched():
    adapter, chosen = adapter_and_selection()
    outsider = np.setdiff1d(np.arange(24), chosen)[0]
    before = adapter.state_dict()["selector"]
    with pytest.raises(ValueError, match="did not choose"):
        adapter.update_from_positions([chosen[0], outsider], [1.0, 0.0])
    after = adapter.state_dict()["selector"]
    assert sorted(before) == sorted(after)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])
    # The same feedback restricted to the selection is accepted.
    adapter.update_from_positions(np.repeat(chosen, 2), np.tile([1.0, 0.0], 3))
    assert adapter.selector.num_updates == 1 and adapter.selector.num_pending == 0


def test_non_finite_rewards_are_refused_unless_unscored_rows_are_allowed():
    adapter, chosen = adapter_and_selection()
    with pytest.raises(ValueError, match="not finite"):
        adapter.update_from_positions(chosen, [1.0, np.nan, 0.0])
    with pytest.raises(ValueError, match="not finite"):
        adapter.update_from_positions(chosen, [1.0, np.inf, 0.0], allow_unscored=True)
    assert adapter.selector.num_updates == 0
    info = adapter.update_from_positions(chosen, [1.0, np.nan, 0.0], True)
    assert info["num_unscored"] == 1 and adapter.selector.num_updates == 1


def test_drop_pending_closes_selections_whose_feedback_was_lost():
    adapter, first = adapter_and_selection()
    adapter.select()
    adapter.drop_pending()
    assert adapter.selector.num_pending == 0 and adapter.lag == -1
    third = adapter.select()
    # The next update answers the newest selection, not the lost ones.
    adapter.update_from_positions(third, np.ones(3))
    assert adapter.selector.num_updates == 1 and adapter.selector.num_pending == 0
