"""Drop-in MoPPS prompt selection for external RL fine-tuning trainers.

- :mod:`bayesrl.integrations.verl_main`: verl >= 0.8 (tested 0.9.1),
  ``python -m bayesrl.integrations.verl_main <main_ppo overrides>``, which runs
  verl's own PPO entry point with ``MoPPSRayPPOTrainer``; extra
  ``bayesrl[verl09]``.
- :mod:`bayesrl.integrations.verl`: verl 0.7.x, ``MoPPSSampler``, a curriculum
  sampler selected by ``data.sampler.class_path`` / ``class_name``; extra
  ``bayesrl[verl]``.
- :mod:`bayesrl.integrations.trl`: ``MoPPSGRPOTrainer``, a TRL 1.16
  ``GRPOTrainer`` subclass; extra ``bayesrl[trl]``.
- :mod:`bayesrl.integrations.openrlhf`: OpenRLHF 0.11,
  ``python -m bayesrl.integrations.openrlhf <train_ppo_ray arguments>`` or
  ``MoPPSPromptLoader`` attached to a ``PPOTrainer``; extra
  ``bayesrl[openrlhf]``.

The submodules import their trainer (and torch) only when imported themselves;
``import bayesrl`` and ``import bayesrl.integrations`` never do.
"""
