"""Fingerprint watermarking with an additional class and steganographic user fingerprints.

Method: Xue, Wang, Zhang, Liu and Liu, "Protecting the intellectual properties of deep neural networks with an
additional class and steganographic images" (arXiv:2104.09203). Key images are out-of-distribution images carrying a
user's fingerprint (user id + the owner's Ed25519 signature) in their least significant bits; each issued copy learns
an additional (K+1)-th class that fires on its own user's key images and not on the other users'.

Modules: :mod:`stego` (LSB embedding, PNG I/O), :mod:`fingerprint` (signed payloads), :mod:`bases` (OOD base
images), :mod:`keys` (key sets), :mod:`adapter` (adding the extra output to any ``nn.Module``), :mod:`config`
(the embedding settings), :mod:`embed` (fine-tuning the extra class in), :mod:`verify` (statistics of the
evidence), :mod:`baselines` (logo and noise backdoor watermarks), :mod:`registry` (users, key sets and issued
copies), :mod:`service` (registry-backed issue and verify), :mod:`segmenter` (the fingerprint of a per-sample
segmenter such as the sferic CNN: waveform keys and an extra head channel), :mod:`cli`.
"""
