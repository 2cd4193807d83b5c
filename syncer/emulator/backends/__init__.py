"""The models behind the emulator's runs: the deterministic one (tests, demos, CI), and more."""
