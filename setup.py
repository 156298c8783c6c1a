"""prefixasr: speech prefix-tuning of LLMs with a pruned RNN-T loss (a recipe toolkit)."""
from setuptools import find_packages, setup

setup(
    name="prefixasr",
    version="0.1.0",
    description="LLM-based multilingual ASR by speech prefix-tuning with a pruned RNN-T loss",
    packages=find_packages(include=["prefixasr", "prefixasr.*"]),
    python_requires=">=3.10",
    # Versions are pinned in tools/requirements.txt (installed by `make -C tools`);
    # here we list what the package imports so `pip install .` elsewhere is honest.
    install_requires=[
        "torch",
        "torchaudio",
        "lhotse",
        "lilcom",
        "urllib3",
        "sentencepiece",
        "kaldialign",
        "pyyaml",
        "tensorboard",
        "transformers",
        "soundfile",
        "tqdm",
        "matplotlib",
    ],
    extras_require={"test": ["pytest"]},
)
