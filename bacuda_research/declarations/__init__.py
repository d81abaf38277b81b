"""Import declarations as data, torch-free: schema and validation (``schema``), the data-quality
report (``quality``), keyed pseudonymisation (``anonymize``), DATE features (``features``), the time
split (``split``) and the seeded synthetic generator (``synthetic``).

Used by training (``fraud``), by the torch-free scoring runtime (``bundle``) and by the light CLIs
(``bacuda-validate``, ``bacuda-anonymize``), so nothing here imports torch or Lightning.
"""
