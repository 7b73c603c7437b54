"""Test-wide settings: tests never touch the network.

Hugging Face libraries read these at import, so they are set before any test module
imports transformers or diffusers: a model id that is not a local folder then fails at
once (the one-line "model missing" error) instead of retrying a download.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


# -- tiny caption_latent models (tests/codecs/, tests/metrics/, the payload fuzz) ------------
# Tiny BLIP, Stable Diffusion (VAE, UNet, CLIP text encoder + tokenizer, DDIM), CLIP and
# AlexNet built from configs in memory and saved once per test session, so that the
# codec and the metrics load them through the real ``from_pretrained`` code.

BERT_WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "dog", "on", "the", "grass", "cat",
              "red", "ball", "man", "with", "sky", "blue"]


@dataclass(frozen=True)
class TinyModels:
    blip: Path      # BlipForConditionalGeneration + BlipProcessor
    sd: Path        # StableDiffusionImg2ImgPipeline layout; VAE downsamples by 2, 4 latent channels
    clip: Path      # CLIPModel + CLIPProcessor
    alexnet: Path   # torchvision AlexNet key layout, random weights
    downsampling: int = 2
    latent_channels: int = 4


def _clip_tokenizer(root: Path):
    """A character-level CLIP BPE tokenizer (no merges): every printable ASCII char is a token."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in (chr(i) for i in range(33, 127)):
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(root / "vocab.json"), str(root / "merges.txt"), model_max_length=77), len(vocab)


def build_tiny_models(root: Path) -> TinyModels:
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTextConfig,
        CLIPTextModel,
    )

    torch.manual_seed(0)
    # BLIP captioner
    (root / "tok").mkdir(parents=True, exist_ok=True)
    (root / "tok" / "bert_vocab.txt").write_text("\n".join(BERT_WORDS) + "\n")
    tok = BertTokenizer(str(root / "tok" / "bert_vocab.txt"), bos_token="[DEC]")
    proc = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    cfg = BlipConfig(
        text_config=dict(vocab_size=len(BERT_WORDS), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=64, bos_token_id=5, pad_token_id=0,
                         sep_token_id=3),
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                           image_size=32, patch_size=8),
        projection_dim=32)
    blip = BlipForConditionalGeneration(cfg).eval()
    blip.save_pretrained(root / "blip")
    proc.save_pretrained(root / "blip")

    # Stable Diffusion pipeline
    vae = AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        latent_channels=4, norm_num_groups=4, layers_per_block=1, sample_size=32)
    # like SD's 0.18215, a scaling factor that gives the latents unit variance (what the UNet expects)
    with torch.no_grad():
        std = vae.encode(torch.rand(4, 3, 32, 32) * 2 - 1).latent_dist.mode().std()
    vae.register_to_config(scaling_factor=float(1 / std))
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                norm_num_groups=4, attention_head_dim=2)
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False, steps_offset=1)
    (root / "ctok").mkdir(exist_ok=True)
    ctok, n_vocab = _clip_tokenizer(root / "ctok")
    text_cfg = dict(vocab_size=n_vocab, hidden_size=16, intermediate_size=37, num_hidden_layers=1,
                    num_attention_heads=2, max_position_embeddings=77, projection_dim=16, bos_token_id=0,
                    eos_token_id=1, pad_token_id=1)
    tenc = CLIPTextModel(CLIPTextConfig(**text_cfg))
    pipe = StableDiffusionImg2ImgPipeline(vae=vae, text_encoder=tenc, tokenizer=ctok, unet=unet, scheduler=sched,
                                          safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(root / "sd")

    # CLIP for the metrics
    clip_cfg = CLIPConfig(text_config=text_cfg,
                          vision_config=dict(hidden_size=16, intermediate_size=37, num_hidden_layers=1,
                                             num_attention_heads=2, image_size=32, patch_size=8, projection_dim=16),
                          projection_dim=16)
    CLIPModel(clip_cfg).eval().save_pretrained(root / "clip")
    CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                  tokenizer=ctok).save_pretrained(root / "clip")

    # AlexNet in torchvision's key layout (random weights: exercises the loading path only)
    from linksim.metrics.lpips import _CONVS

    sd = {}
    for idx, cin, cout, k, _, _ in _CONVS:
        sd[f"features.{idx}.weight"] = torch.randn(cout, cin, k, k) * (2 / (cin * k * k)) ** 0.5
        sd[f"features.{idx}.bias"] = torch.zeros(cout)
    torch.save(sd, root / "alexnet.pth")
    return TinyModels(root / "blip", root / "sd", root / "clip", root / "alexnet.pth")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    return build_tiny_models(tmp_path_factory.mktemp("tiny_models"))
