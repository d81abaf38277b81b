"""Import declarations as data, torch-free: reading files (``reading``), the DATE schema and
validation (``schema``), declared schemas for any administration's columns (``declared``: the YAML
model; ``canonical``: loading through one; ``infer``: drafting one), the data-quality report
(``quality``), keyed pseudonymisation (``anonymize``), DATE features (``features``), features from
any declared schema (``auto_features``), how a trained model reads files and rebuilds its features
(``stored``), the time split (``split``), the seeded synthetic generator (``synthetic``) and a made-up
export in another layout for the guide (``example``).

Used by training (``fraud``), by the torch-free scoring runtime (``bundle``) and by the light CLIs
(``bacuda-validate``, ``bacuda-anonymize``, ``bacuda-schema``), so nothing here imports torch or Lightning.
"""
