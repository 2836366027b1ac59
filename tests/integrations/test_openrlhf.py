"""MoPPSPromptLoader against OpenRLHF's real classes (spec §7.5 item 9).

A real ``PromptDataset`` is wrapped; OpenRLHF's real ``SamplesGenerator``
(``generate_samples``, ``_collect_prompt_batch``,
``_process_response_into_experience``) pulls prompts from it and builds real
``Experience`` objects; only the vLLM engine call is replaced by a scripted
reward (vLLM does not install on a CPU machine: a three-name stand-in module
lets ``samples_generator`` import). The posterior must equal an independent
NumPy port of MoPPS's update on the scored responses.
"""

import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("openrlhf.datasets")

import torch  # noqa: E402
from openrlhf.datasets import PromptDataset  # noqa: E402

from bayesrl.integrations.openrlhf import MoPPSPromptLoader  # noqa: E402

NUM_PROMPTS = 24
BATCH = 3
MULTIPLIER = 2  # B_hat = 6: 4 selections per loader epoch
SAMPLES = 4


def make_args(dynamic_filtering=False):
    return SimpleNamespace(
        data=SimpleNamespace(input_key="question", label_key="answer"),
        rollout=SimpleNamespace(
            batch_size=BATCH,
            n_samples_per_prompt=SAMPLES,
            vllm_generate_batch_size=None,
        ),
        vllm=SimpleNamespace(enable_sleep=False),
        algo=SimpleNamespace(dynamic_filtering_enable=dynamic_filtering),
        train=SimpleNamespace(seed=3),
    )


def make_dataset(questions=None):
    questions = questions or [f"question {i}" for i in range(NUM_PROMPTS)]
    rows = [{"question": q, "answer": str(i)} for i, q in enumerate(questions)]
    strategy = SimpleNamespace(args=make_args(), is_rank_0=lambda: True)
    return PromptDataset(rows, tokenizer=None, strategy=strategy)


@pytest.fixture
def samples_generator_class(monkeypatch):
    """OpenRLHF's SamplesGenerator, importable without vLLM."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("vllm")
        stand_in.SamplingParams = dict
        stand_in.__version__ = "0.0"
        inputs = types.ModuleType("vllm.inputs")
        inputs.TokensPrompt = dict
        utils = types.ModuleType("vllm.utils")
        utils.random_uuid = lambda: "0"
        stand_in.inputs, stand_in.utils = inputs, utils
        for name, module in [
            ("vllm", stand_in),
            ("vllm.inputs", inputs),
            ("vllm.utils", utils),
        ]:
            monkeypatch.setitem(sys.modules, name, module)
    from openrlhf.trainer.ppo_utils import samples_generator

    return samples_generator


def success_probability(label):
    return (int(label) % 4) / 3.0


def scripted_generation(module, generator, rng, scored):
    """Replaces only the vLLM call of ``_generate_vllm``: the real prompt
    collection and the real Experience construction run."""

    def generate(dataloader_iter, num_prompts, dynamic_filtering, **kwargs):
        prompts, labels, _, exhausted = module._collect_prompt_batch(
            dataloader_iter, num_prompts
        )
        experiences = []
        for prompt, label in zip(prompts, labels, strict=True):
            for _ in range(SAMPLES):
                score = float(rng.random() < success_probability(label))
                scored.append((prompt, score))
                response = {
                    "observation_tokens": [5, 6, 7, 8],
                    "action_ranges": [(2, 4)],
                    "reward": score,
                    "scores": score,
                    "rollout_log_probs": None,
                    "prompt": prompt,
                    "label": label,
                }
                experiences.append(
                    generator._process_response_into_experience(response)
                )
        rng.shuffle(experiences)
        return experiences, len(prompts), exhausted

    return generate


def test_loader_yields_prompt_dataset_batches(samples_generator_class):
    dataset = make_dataset()
    loader = MoPPSPromptLoader(dataset, BATCH, seed=3, candidate_multiplier=MULTIPLIER)
    assert len(loader) == BATCH * (NUM_PROMPTS // (MULTIPLIER * BATCH))
    batches = list(loader)
    assert len(batches) == len(loader)
    for batch in batches:
        position = dataset.prompts.index(batch[1][0])
        assert batch == dataset.collate_fn([dataset[position]])
    # OpenRLHF's own collector takes exactly B prompts per step from it.
    prompts, labels, images, exhausted = samples_generator_class._collect_prompt_batch(
        iter(loader), BATCH
    )
    assert len(prompts) == BATCH == len(set(prompts)) and not exhausted
    assert labels == [dataset.labels[dataset.prompts.index(p)] for p in prompts]


def test_attached_generator_feeds_scores_back(
    samples_generator_class, reference_posterior
):
    module = samples_generator_class
    args = make_args()
    dataset = make_dataset()
    strategy = SimpleNamespace(args=args)
    generator = module.SamplesGenerator(strategy, None, None, None, [])
    trainer = SimpleNamespace(
        args=args,
        prompts_dataloader=SimpleNamespace(dataset=dataset),
        samples_generator=generator,
    )
    scored = []
    generator._generate_vllm = scripted_generation(
        module, generator, np.random.default_rng(0), scored
    )
    loader = MoPPSPromptLoader.from_trainer(trainer, candidate_multiplier=MULTIPLIER)
    loader.attach(trainer)
    assert trainer.prompts_dataloader is loader is generator.prompts_dataloader

    steps = []
    while True:
        start = len(scored)
        rollouts, _, consumed, exhausted = generator.generate_samples()
        if rollouts:
            assert consumed == BATCH and len(rollouts) == BATCH * SAMPLES
            rows = scored[start:]
            positions = [dataset.prompts.index(p) for p, _ in rows]
            steps.append((np.asarray(positions), np.asarray([s for _, s in rows])))
        if exhausted:
            break
    assert len(steps) == NUM_PROMPTS // (MULTIPLIER * BATCH)
    alpha, beta = reference_posterior(NUM_PROMPTS, steps)
    state = loader.state_dict()["selector"]
    np.testing.assert_allclose(state["alpha"], alpha, rtol=1e-6)
    np.testing.assert_allclose(state["beta"], beta, rtol=1e-6)
    assert loader.metrics["max_lag"] == 0

    with pytest.raises(ValueError, match="dynamic_filtering"):
        MoPPSPromptLoader(dataset, BATCH).attach(
            SimpleNamespace(args=make_args(dynamic_filtering=True))
        )


def test_state_round_trip_resumes_mid_epoch():
    dataset = make_dataset()

    def feed(loader, batch):
        prompt = batch[1][0]
        score = float(int(dataset.labels[dataset.prompts.index(prompt)]) % 2)
        experience = SimpleNamespace(
            prompts=[prompt, prompt], scores=None, rewards=torch.tensor([score, 1.0])
        )
        loader.update([experience])

    def take(iterator, loader, count):
        out = []
        for _ in range(count):
            batch = next(iterator)
            feed(loader, batch)
            out.append(batch[1][0])
        return out

    original = MoPPSPromptLoader(
        dataset, BATCH, seed=9, candidate_multiplier=MULTIPLIER
    )
    iterator = iter(original)
    take(iterator, original, 4)  # one selection and one prompt of the next
    state = original.state_dict()
    rest = take(iterator, original, len(original) - 4)
    with pytest.raises(StopIteration):
        next(iterator)

    resumed = MoPPSPromptLoader(dataset, BATCH, seed=9, candidate_multiplier=MULTIPLIER)
    resumed.load_state_dict(state)
    resumed_iterator = iter(resumed)
    assert take(resumed_iterator, resumed, len(resumed) - 4) == rest
    with pytest.raises(StopIteration):
        next(resumed_iterator)

    other = make_dataset([f"other {i}" for i in range(NUM_PROMPTS)])
    with pytest.raises(ValueError, match="different dataset"):
        MoPPSPromptLoader(
            other, BATCH, seed=9, candidate_multiplier=MULTIPLIER
        ).load_state_dict(state)


def test_duplicate_prompt_texts_are_refused():
    with pytest.raises(ValueError, match="duplicated"):
        MoPPSPromptLoader(make_dataset(["same"] * 4 + ["other"]), 1)
