"""Training a run: starting or resuming it (lifecycle, finetune), the loop (loop) and its step
(step), where the run stands (progress) and its learning rate (schedule), what it writes down
(records) and shows (reporter, console), its resumable checkpoint (checkpoint,
trainer_state), and several models trained side by side (comparison).

May import: everything below it (charrnn.errors, config, machine, text, models, runs) and
charrnn.trained, whose Model scores a comparison's runs.
"""
__all__ = ["checkpoint", "comparison", "console", "finetune", "lifecycle", "loop", "progress",
           "records", "reporter", "schedule", "step", "trainer_state"]
