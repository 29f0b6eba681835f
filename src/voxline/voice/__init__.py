"""The voice runtime: audio, speech engines and the catalogue of voices agents speak with."""
