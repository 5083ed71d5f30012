"""Sweep reports: the Hydra callback (:mod:`.callback`), summary rows (:mod:`.summary`),
figures (:mod:`.plots`) and ``musicexp-report`` (:mod:`.cli`)."""
