"""MoPPSPromptLoader against OpenRLHF 0.11.2's real classes, piece by piece.

A real ``PromptDataset`` is wrapped; OpenRLHF's real ``SamplesGenerator``
(``generate_samples``, ``_collect_prompt_batch``,
``_process_response_into_experience``) pulls prompts from it and builds real
``Experience`` objects; only the vLLM engine call is replaced by a scripted
reward (vLLM does not install on a CPU machine: the stand-in modules of
``openrlhf_fit.stand_ins`` let ``samples_generator`` import). The experience
maker is an identity here (its real run is in ``test_openrlhf_fit.py``). The
posterior must equal an independent NumPy port of MoPPS's update on the
scored responses; bad feedback and unsupported configurations are refused
with the selector and the trainer unchanged.
"""

import importlib.metadata
import io
import pickle
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("openrlhf.datasets")

import torch  # noqa: E402
from openrlhf.datasets import PromptDataset  # noqa: E402
from openrlhf_fit import stand_ins  # noqa: E402

from bayesrl.integrations.openrlhf import (  # noqa: E402
    MoPPSPromptLoader,
    parse_mopps_arguments,
)

NUM_PROMPTS = 24
BATCH = 3
MULTIPLIER = 2  # B_hat = 6: 4 selections per loader epoch
SAMPLES = 4
TRAIN_BATCH = 6
EPISODES = 3


def make_args(dynamic_filtering=False, async_enable=False, generate_batch=None):
    return SimpleNamespace(
        data=SimpleNamespace(input_key="question", label_key="answer"),
        rollout=SimpleNamespace(
            batch_size=BATCH,
            n_samples_per_prompt=SAMPLES,
            vllm_generate_batch_size=generate_batch,
        ),
        vllm=SimpleNamespace(enable_sleep=False),
        algo=SimpleNamespace(dynamic_filtering_enable=dynamic_filtering),
        train=SimpleNamespace(
            seed=3,
            async_enable=async_enable,
            batch_size=TRAIN_BATCH,
            num_episodes=EPISODES,
            max_epochs=2,
        ),
    )


def make_dataset(questions=None):
    questions = questions or [f"question {i}" for i in range(NUM_PROMPTS)]
    rows = [{"question": q, "answer": str(i)} for i, q in enumerate(questions)]
    strategy = SimpleNamespace(args=make_args(), is_rank_0=lambda: True)
    return PromptDataset(rows, tokenizer=None, strategy=strategy)


@pytest.fixture
def samples_generator_class():
    """OpenRLHF's samples_generator module, importable without vLLM."""
    stand_ins.install()
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


def make_trainer(module, args, dataset):
    """The attributes of a ``PPOTrainer`` the loader touches: a real
    ``SamplesGenerator``, an identity experience maker and a train step."""
    generator = module.SamplesGenerator(
        SimpleNamespace(args=args), None, None, None, []
    )
    return SimpleNamespace(
        args=args,
        prompts_dataloader=SimpleNamespace(dataset=dataset),
        samples_generator=generator,
        experience_maker=SimpleNamespace(make_experience=lambda samples: samples),
        train_step=lambda rollouts, step: ({}, step + 1),
        max_steps=-1,
    )


def test_attached_trainer_feeds_scores_back(
    samples_generator_class, reference_posterior
):
    module = samples_generator_class
    dataset = make_dataset()
    trainer = make_trainer(module, make_args(), dataset)
    generator = trainer.samples_generator
    scored = []
    generator._generate_vllm = scripted_generation(
        module, generator, np.random.default_rng(0), scored
    )
    loader = MoPPSPromptLoader.from_trainer(trainer, candidate_multiplier=MULTIPLIER)
    loader.attach(trainer)
    assert trainer.prompts_dataloader is loader is generator.prompts_dataloader
    selections = NUM_PROMPTS // (MULTIPLIER * BATCH)
    assert trainer.max_steps == (
        selections * BATCH * SAMPLES // TRAIN_BATCH * EPISODES * 2
    )

    steps = []
    while True:
        start = len(scored)
        rollouts, _, consumed, exhausted = generator.generate_samples()
        if rollouts:
            assert consumed == BATCH and len(rollouts) == BATCH * SAMPLES
            updates = loader.adapter.selector.num_updates
            trainer.experience_maker.make_experience(rollouts)
            assert loader.adapter.selector.num_updates == updates + 1
            status, _ = trainer.train_step(rollouts, 0)
            assert status["mopps/lag"] == 0 and "mopps/solve_none" in status
            rows = scored[start:]
            positions = [dataset.prompts.index(p) for p, _ in rows]
            steps.append((np.asarray(positions), np.asarray([s for _, s in rows])))
        if exhausted:
            break
    assert len(steps) == selections
    alpha, beta = reference_posterior(NUM_PROMPTS, steps)
    state = loader.state_dict()["selector"]
    np.testing.assert_allclose(state["alpha"], alpha, rtol=1e-6)
    np.testing.assert_allclose(state["beta"], beta, rtol=1e-6)
    assert loader.metrics["max_lag"] == 0


@pytest.mark.parametrize(
    "args, version, message",
    [
        (make_args(dynamic_filtering=True), "0.11.2", "dynamic_filtering"),
        (make_args(async_enable=True), "0.11.2", "async_enable"),
        (make_args(generate_batch=2 * BATCH), "0.11.2", "vllm_generate_batch_size"),
        (make_args(), "0.12.0", "OpenRLHF 0.12.0 is not supported"),
    ],
)
def test_attach_refuses_unsupported_configurations(
    samples_generator_class, monkeypatch, args, version, message
):
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version)
    trainer = make_trainer(samples_generator_class, args, make_dataset())
    before = dict(vars(trainer))
    loader = MoPPSPromptLoader.from_trainer(trainer, candidate_multiplier=MULTIPLIER)
    with pytest.raises(ValueError, match=message):
        loader.attach(trainer)
    assert vars(trainer) == before
    assert loader.adapter.selector.num_selections == 0


def selector_arrays(loader):
    return {k: np.array(v) for k, v in loader.adapter.selector.state_dict().items()}


@pytest.mark.parametrize(
    "experience, message",
    [
        (dict(prompts=["not in the dataset"] * 2, scores=[1.0, 0.0]), "unknown"),
        (dict(prompts=None, scores=[1.0, float("nan")]), "not finite"),
        (dict(prompts=None, scores=[1.0, float("inf")]), "not finite"),
        (dict(prompts=None, scores=None), "neither scores nor rewards"),
        (dict(prompts=[], scores=[1.0, 0.0]), "0 prompts for 2 scores"),
    ],
)
def test_bad_feedback_leaves_the_selector_untouched(experience, message):
    dataset = make_dataset()
    loader = MoPPSPromptLoader(dataset, BATCH, seed=1, candidate_multiplier=MULTIPLIER)
    prompt = next(iter(loader))[1][0]
    scores = experience["scores"]
    bad = SimpleNamespace(
        prompts=[prompt] * 2
        if experience["prompts"] is None
        else experience["prompts"],
        scores=None if scores is None else torch.tensor(scores),
        rewards=None,
    )
    good = SimpleNamespace(prompts=[prompt], scores=torch.tensor([1.0]), rewards=None)
    before = selector_arrays(loader)
    with pytest.raises(ValueError, match=message):
        loader.update([good, bad])
    after = selector_arrays(loader)
    assert before.keys() == after.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])
    with pytest.raises(ValueError, match="no Experience rows"):
        loader.update([])


def test_mopps_arguments_are_split_from_openrlhf_arguments():
    options, rest = parse_mopps_arguments(
        [
            "--mopps.candidate_multiplier",
            "8",
            "--train.seed",
            "3",
            "--mopps.evidence=clip",
            "--mopps.target",
            "0.4",
            "--vllm.enable_sleep",
        ]
    )
    assert options == {"candidate_multiplier": 8, "evidence": "clip", "target": 0.4}
    assert rest == ["--train.seed", "3", "--vllm.enable_sleep"]
    with pytest.raises(ValueError, match="needs a value"):
        parse_mopps_arguments(["--mopps.target"])


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
    # As OpenRLHF stores it (torch.save in DeepSpeed's checkpoint) and ships
    # it back on resume (Ray pickles the checkpoint states).
    buffer = io.BytesIO()
    torch.save({"data_loader_state_dict": original.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)["data_loader_state_dict"]
    state = pickle.loads(pickle.dumps(saved))
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


def test_installed_versions_match_openrlhf_pins():
    """The environment (the ``openrlhf`` extra) satisfies every exact pin of
    openrlhf 0.11.2 among the packages it has installed, so the extra installs
    beside a full OpenRLHF environment without a conflict."""
    from packaging.requirements import Requirement

    pins = [
        Requirement(text)
        for text in importlib.metadata.requires("openrlhf") or []
        if "==" in text and "extra ==" not in text
    ]
    assert {pin.name for pin in pins} >= {"transformers", "ray"}
    for pin in pins:
        try:
            installed = importlib.metadata.version(pin.name)
        except importlib.metadata.PackageNotFoundError:
            continue  # deepspeed, flash-attn: GPU builds, stand-ins in the tests
        assert pin.specifier.contains(installed), f"{pin.name} {installed} vs {pin}"
