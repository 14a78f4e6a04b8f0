"""Training: the SpeakerBrain loop and train(), checkpoints, initialisation, LR schedules."""
