"""Experience management (paper §2.3) and learning from it (§2.4).

- `store`: every step's `ExperienceRecord`, in the ledger's database.
- `patterns`: success rate, cost and latency over time; strategy fit; failure clusters.
- `insights`: the shared insight pool with verified (replayed) admission.
- `bandit`: Thompson sampling over the agents (replicas) that offer a capability.
- `fewshot`: an agent's own successful steps as examples for its prompt.
- `ab`: a prompt-variant A/B harness.
- `training`: SFT and DPO training sets in chat format.
"""
