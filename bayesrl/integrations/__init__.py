"""Drop-in MoPPS prompt selection for external RL fine-tuning trainers.

- :mod:`bayesrl.integrations.verl`: ``MoPPSSampler``, a verl curriculum sampler
  (``data.sampler.class_path`` / ``class_name``), extra ``bayesrl[verl]``.
- :mod:`bayesrl.integrations.trl`: ``MoPPSGRPOTrainer``, a TRL ``GRPOTrainer``
  subclass, extra ``bayesrl[trl]``.
- :mod:`bayesrl.integrations.openrlhf`: ``MoPPSPromptLoader``, a replacement of
  OpenRLHF's prompts dataloader, extra ``bayesrl[openrlhf]``.

The submodules import their trainer (and torch) only when imported themselves;
``import bayesrl`` and ``import bayesrl.integrations`` never do.
"""
