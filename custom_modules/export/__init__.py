"""Export: the SpeechBrain model folder, its calibrated interface, safe loading of model folders."""
