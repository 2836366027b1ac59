"""Overhead of the trainer adapters: ``python -m benchmarks.prompt_adapters``.

Per training step a trainer adapter (``bayesrl.integrations``) does what a bare
:class:`bayesrl.prompts.PromptSelector` does — ``select()`` then
``update(ids, rewards=...)`` on ``B x G`` response rows — plus its own host
work: stable id -> position mapping (``np.searchsorted`` on the sorted ids),
dropping unscorable rows, lag bookkeeping. This benchmark times both on the
same step sequence in the same process, alternating a bare step and an
adapter step (median over ``--steps`` steps after a compiling step), and
prints the adapter/bare ratio, so the figure is meaningful on a loaded
machine. Each size is measured ``--repeats`` times (fresh selectors, seeds
0, 1, ...); the median of those medians is printed with its min-max range and
the load average. Rows are shuffled as verl's ``_balance_batch``
would and the stable ids are non-contiguous.

No trainer is imported: the adapters' shared core is what runs per step
(``SelectorAdapter.update_from_ids``); the trainer-specific parts only read
their batch (a tensor sum for verl, a ``gather_object`` for TRL).

Writes ``benchmarks/results/prompt_adapters.json`` with the machine
description.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bayesrl.integrations._common import PromptIdMap, SelectorAdapter
from bayesrl.prompts import PromptSelector
from benchmarks._common import machine, machine_header

RESULTS = Path(__file__).parent / "results"


def step_rows(rng, selected_positions, ids, responses):
    positions = np.repeat(selected_positions, responses)
    order = rng.permutation(positions.size)
    positions = positions[order]
    rewards = (rng.random(positions.size) < 0.5).astype(np.float64)
    return ids[positions], positions, rewards


def measure(num_prompts, batch_size, responses, candidate_multiplier, steps, seed=0):
    """Median step times of the bare selector and of the adapter, timed
    alternately step by step (so load drifts hit both alike)."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(10 * num_prompts, num_prompts, replace=False).astype(np.int64)
    options = dict(candidate_multiplier=candidate_multiplier)
    bare = PromptSelector(num_prompts, batch_size, seed=seed, **options)
    adapter = SelectorAdapter(PromptIdMap(ids), batch_size, seed=seed, **options)
    bare_times, adapter_times = [], []
    for step in range(steps + 1):
        feedback_seed = seed + 1 + step

        start = time.perf_counter()
        chosen = bare.select()
        _, positions, rewards = step_rows(
            np.random.default_rng(feedback_seed), chosen, ids, responses
        )
        bare.update(positions, rewards=rewards)
        bare_time = time.perf_counter() - start

        start = time.perf_counter()
        chosen = adapter.select()
        stable_ids, _, rewards = step_rows(
            np.random.default_rng(feedback_seed), chosen, ids, responses
        )
        adapter.update_from_ids(stable_ids, rewards)
        adapter_time = time.perf_counter() - start

        if step:  # step 0 compiles
            bare_times.append(bare_time)
            adapter_times.append(adapter_time)
    same = np.array_equal(
        adapter.selector.state_dict()["alpha"], bare.state_dict()["alpha"]
    )
    bare_median, adapter_median = np.median(bare_times), np.median(adapter_times)
    return dict(
        num_prompts=num_prompts,
        batch_size=batch_size,
        responses_per_prompt=responses,
        candidate_multiplier=candidate_multiplier,
        steps=steps,
        bare_selector_ms=1e3 * bare_median,
        adapter_ms=1e3 * adapter_median,
        ratio_adapter_to_bare=float(adapter_median / bare_median),
        identical_posterior=bool(same),
    )


def repeated(num_prompts, repeats, steps):
    """``measure`` ``repeats`` times on fresh selectors (seeds 0, 1, ...); the
    median of the per-repetition medians and their min-max spread."""
    runs = [measure(num_prompts, 256, 8, 16, steps, seed=r) for r in range(repeats)]
    summary = dict(runs[0], repeats=repeats, runs=runs)
    for name in ("bare_selector_ms", "adapter_ms", "ratio_adapter_to_bare"):
        values = [run[name] for run in runs]
        summary[name] = float(np.median(values))
        summary[f"{name}_range"] = [float(min(values)), float(max(values))]
    summary["identical_posterior"] = all(run["identical_posterior"] for run in runs)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    args = parser.parse_args(argv)
    record = machine()
    print(machine_header(record))
    rows = []
    for num_prompts in args.sizes:
        row = repeated(num_prompts, args.repeats, args.steps)
        rows.append(row)
        low, high = row["adapter_ms_range"]
        print(
            f"N={num_prompts:>9,}  B=256 G=8 B_hat=16B  median of {args.repeats}:"
            f"  bare {row['bare_selector_ms']:.2f} ms"
            f"  adapter {row['adapter_ms']:.2f} ms [{low:.2f}, {high:.2f}]"
            f"  ratio {row['ratio_adapter_to_bare']:.2f}"
            f"  identical posterior: {row['identical_posterior']}"
        )
    record["load_average_at_end"] = os.getloadavg()
    print(f"load average at end: {record['load_average_at_end']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "prompt_adapters.json"
    out.write_text(json.dumps(dict(machine=record, results=rows), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
