"""A quantized frozen base (QLoRA): NF4 / int8 blocks against a reference NF4 code book written
here and against bitsandbytes, the quantized matmul, and LoRA training over an NF4 base whose
adapter loads in PEFT over the same quantized weights with the same logits."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
pytest.importorskip("airtune._nn")

from airtune.nn._lib import native  # noqa: E402
from airtune.train import LoraConfig, load_adapter, train_lora  # noqa: E402
from test_train import TOL, _batch, _hf, _make_base, _masked_max_diff, _peft_load, _rows  # noqa: E402

# QLoRA's NF4 data type (Dettmers et al. 2023, appendix E; bitsandbytes' float32 table).
NF4 = [
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
]


def _nf4_from_normal_quantiles() -> list[float]:
    """The code book as QLoRA builds it: quantiles of N(0, 1), 8 positive and 7 negative, and 0."""
    from scipy.stats import norm

    offset = 0.9677083
    pos = norm.ppf(torch.linspace(offset, 0.5, 9)[:-1].double().numpy()).tolist()
    neg = (-norm.ppf(torch.linspace(offset, 0.5, 8)[:-1].double().numpy())).tolist()
    v = sorted(pos + [0.0] + neg)
    top = max(abs(x) for x in v)
    return [x / top for x in v]


def _reference_nf4(w: torch.Tensor, block: int):
    """Codes (two per byte, the first element in the high nibble) and absmax per block."""
    flat = w.reshape(-1).float()
    n = flat.numel()
    nb = (n + block - 1) // block
    padded = torch.zeros(nb * block)
    padded[:n] = flat
    blocks = padded.view(nb, block)
    absmax = blocks.abs().amax(1)
    scaled = blocks / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]
    levels = torch.tensor(NF4)
    codes = (scaled.reshape(-1, 1) - levels).abs().argmin(1)[:n]
    if n % 2:
        codes = torch.cat([codes, torch.tensor([7])])  # the code of 0.0
    packed = (codes[0::2] * 16 + codes[1::2]).to(torch.uint8)
    deq = (levels[codes[:n]] * absmax.repeat_interleave(block)[:n]).view(w.shape)
    return packed, absmax, deq


def _reference_int8(w: torch.Tensor, block: int):
    flat = w.reshape(-1).float()
    n = flat.numel()
    absmax = torch.stack([flat[i : i + block].abs().max() for i in range(0, n, block)])
    scale = absmax.repeat_interleave(block)[:n]
    codes = torch.round(flat * (127.0 / torch.where(scale > 0, scale, torch.ones_like(scale)))).clamp(
        -127, 127
    )
    deq = (codes * scale) * (1.0 / 127.0)
    return codes.to(torch.int8), absmax, deq.view(w.shape)


def test_nf4_code_book_is_qloras():
    ours = native().nf4_levels()
    assert ours == pytest.approx(NF4, abs=0)  # bit for bit as float32 values
    assert torch.tensor(ours).float().tolist() == torch.tensor(NF4).float().tolist()
    assert _nf4_from_normal_quantiles() == pytest.approx(NF4, abs=2e-7)


@pytest.mark.parametrize("shape,block", [((48, 32), 64), ((7, 9), 16), ((5, 13), 64)])
def test_nf4_matches_the_reference_quantizer(shape, block):
    g = torch.Generator().manual_seed(3)
    w = torch.randn(shape, generator=g) * 0.3
    w[0, :] = 0.0  # a block of zeros dequantizes to zeros
    q = native().quantize_weight(w, "nf4", block)
    packed, absmax, deq = _reference_nf4(w, block)
    assert torch.equal(q.codes, packed)
    assert torch.equal(q.absmax, absmax)
    got = native().dequantize_weight(q)
    assert torch.equal(got, deq)
    # the ATen path of non-CPU devices gives the same values
    assert torch.equal(native().dequantize_weight(q, reference=True), deq)
    assert (got - w).abs().max() <= absmax.max() * 0.5 * (NF4[1] - NF4[0]) + 1e-6


def test_int8_matches_the_reference_quantizer():
    g = torch.Generator().manual_seed(4)
    w = torch.randn(24, 40, generator=g)
    q = native().quantize_weight(w, "int8", 64)
    codes, absmax, deq = _reference_int8(w, 64)
    assert torch.equal(q.codes, codes) and torch.equal(q.absmax, absmax)
    assert torch.equal(native().dequantize_weight(q), deq)
    assert torch.equal(native().dequantize_weight(q, reference=True), deq)


def _bnb():
    bnb_f = pytest.importorskip("bitsandbytes.functional")
    return bnb_f


@pytest.mark.parametrize("double_quant", [False, True])
def test_nf4_matches_bitsandbytes(double_quant):
    F = _bnb()
    g = torch.Generator().manual_seed(5)
    # 384 blocks of 64: two blocks of 256 scales under double quantization. (bitsandbytes 0.50's CPU
    # dequantize_4bit is only right for rows of a multiple of 64 weights, so the rows are 64 wide.)
    w = torch.randn(384, 64, generator=g) * 0.2
    try:
        packed, state = F.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=double_quant)
    except (RuntimeError, NotImplementedError) as exc:  # a bitsandbytes build without a CPU backend
        pytest.skip(f"bitsandbytes cannot quantize on this CPU: {exc}")
    want = F.dequantize_4bit(packed, state).float()
    q = native().quantize_weight(w, "nf4", 64, double_quant)
    assert torch.equal(q.codes, packed.reshape(-1))  # the same 4-bit codes, packed the same way
    if double_quant:
        # The scales' offset is their mean: float64 here, torch's float32 mean in bitsandbytes, so
        # the nested values may differ in the last bit.
        assert q.nested_offset == pytest.approx(float(state.offset), rel=1e-6)
        assert torch.allclose(q.nested_absmax, state.state2.absmax.reshape(-1), rtol=1e-6, atol=0)
        assert (q.nested_codes != state.absmax.reshape(-1)).float().mean() < 0.01
        bnb_scales = F.dequantize_blockwise(state.absmax, state.state2) + state.offset
        assert torch.allclose(q.scales, bnb_scales, rtol=1e-5, atol=0)
    else:
        assert torch.equal(q.absmax, state.absmax.float())
        assert torch.equal(q.scales, state.absmax.float())
    got = native().dequantize_weight(q)
    assert (got - want).abs().max().item() <= (1e-6 if not double_quant else 1e-5)


def test_quantized_matmul_and_its_gradient():
    g = torch.Generator().manual_seed(6)
    w = torch.randn(40, 24, generator=g) * 0.1
    q = native().quantize_weight(w, "nf4", 64, True)
    dense = native().dequantize_weight(q)
    x = torch.randn(2, 5, 24, generator=g, requires_grad=True)
    y = native().quantized_matmul(x, q)
    ref_x = x.detach().clone().requires_grad_(True)
    ref = ref_x @ dense.T
    assert y.shape == (2, 5, 40) and (y - ref).abs().max() < 1e-5
    dy = torch.randn(2, 5, 40, generator=g)
    (y * dy).sum().backward()
    (ref * dy).sum().backward()
    assert (x.grad - ref_x.grad).abs().max() < 1e-5


def test_bad_quantization_input():
    with pytest.raises(ValueError, match="block"):
        native().quantize_weight(torch.randn(4, 4), "nf4", 3)
    with pytest.raises(ValueError, match="fp4"):
        native().quantize_weight(torch.randn(4, 4), "fp4", 64)
    w = torch.randn(4, 4)
    w[1, 2] = float("nan")
    with pytest.raises(ValueError, match="finite|NaN|nan"):
        native().quantize_weight(w, "nf4", 16)
    with pytest.raises(ValueError, match="quantization"):
        LoraConfig(quantization="int4").validate()


def test_unsupported_quantized_checkpoint_is_refused(tmp_path):
    folder = tmp_path / "gptq"
    _make_base(folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "gptq", "bits": 4}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="gptq"):
        native().Decoder(str(folder))


# ------------------------------------------------------------------------------ QLoRA end to end


def _dequantized_base(src, dst, kind: str, block: int, double_quant: bool):
    """The HF model with every layer projection replaced by its quantized-then-dequantized weight
    (ours, checked against bitsandbytes above): the base PEFT sees under a QLoRA adapter."""
    model = _hf(src)
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, torch.nn.Linear) and ".layers." in name:
                q = native().quantize_weight(mod.weight.detach(), kind, block, double_quant)
                mod.weight.copy_(native().dequantize_weight(q))
    model.save_pretrained(dst, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (dst / f).write_bytes((src / f).read_bytes())


@pytest.mark.parametrize("kind,double_quant", [("nf4", True), ("int8", False)])
def test_qlora_adapter_loads_in_peft_over_the_same_quantized_base(tmp_path, kind, double_quant):
    base = tmp_path / "base"
    _make_base(base)
    cfg = LoraConfig(
        r=4,
        target_modules="all-linear",
        max_steps=6,
        batch_size=4,
        learning_rate=1e-2,
        mode="instruct",
        quantization=kind,
        quant_block_size=32,
        double_quant=double_quant,
    )
    res = train_lora(base, _rows(16), config=cfg, output_dir=tmp_path / "out", show_progress=False)
    assert res.train_loss[-1] < res.train_loss[0]
    recorded = json.loads((tmp_path / "out" / "quantization.json").read_text())
    assert recorded == {"quantization": kind, "quant_block_size": 32, "double_quant": double_quant}
    ours = load_adapter(base, tmp_path / "out")  # quantized as recorded
    assert ours._impl.quantization.startswith(kind)
    mem = ours._impl.memory()
    n_proj = sum(
        p.numel()
        for n, p in _hf(base).named_parameters()
        if ".layers." in n and "proj" in n and "weight" in n
    )
    per_weight = 0.5 if kind == "nf4" else 1.0
    scales = (1 + 4 / 256) / 32 if double_quant else 4 / 32
    assert mem.quantized_weight_bytes == pytest.approx(n_proj * (per_weight + scales), rel=0.02)

    _dequantized_base(base, tmp_path / "deq", kind, 32, double_quant)
    ref = _peft_load(tmp_path / "deq", tmp_path / "out").eval()
    ids, mask = _batch()
    with torch.no_grad():
        want = ref(input_ids=ids, attention_mask=mask).logits
    got = ours.logits(ids, mask)
    assert _masked_max_diff(got, want, mask) < TOL
    # and the quantization changed the base: the dense base gives other logits
    (tmp_path / "out" / "quantization.json").unlink()
    dense = load_adapter(base, tmp_path / "out")
    assert dense._impl.quantization == ""
    assert _masked_max_diff(dense.logits(ids, mask), want, mask) > 10 * TOL


def test_bitsandbytes_nf4_checkpoint_reads_and_trains_like_peft(tmp_path):
    """A checkpoint saved by transformers + bitsandbytes (load_in_4bit, NF4, double quantization) is
    read as it is and dequantizes to bitsandbytes' own dequantize_4bit values: our logits equal
    those of the model whose projections are those values, and an adapter trained over the
    checkpoint loads in PEFT over that model with the same logits."""
    F = _bnb()
    base = tmp_path / "base"
    # rows of 64 / 128 weights (see test_nf4_matches_bitsandbytes)
    _make_base(base, hidden_size=64, intermediate_size=128)
    qc = transformers.BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float32,
    )
    try:
        quantized = transformers.AutoModelForCausalLM.from_pretrained(
            base, quantization_config=qc, device_map="cpu"
        ).eval()
    except Exception as exc:  # noqa: BLE001 - bitsandbytes without a usable CPU backend
        pytest.skip(f"bitsandbytes cannot load a 4-bit model on this CPU: {exc}")
    bnb = tmp_path / "bnb"
    quantized.save_pretrained(bnb)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (bnb / f).write_bytes((base / f).read_bytes())
    # The reference: the dense model with bitsandbytes' dequantized projections.
    ref = _hf(base)
    with torch.no_grad():
        for name, mod in quantized.named_modules():
            if hasattr(mod, "weight") and getattr(mod.weight, "quant_state", None) is not None:
                deq = F.dequantize_4bit(mod.weight.data, mod.weight.quant_state).float()
                ref.get_submodule(name).weight.copy_(deq)
    ref.save_pretrained(tmp_path / "deq")
    ids, mask = _batch()
    with torch.no_grad():
        want = ref(input_ids=ids, attention_mask=mask).logits
        bnb_forward = quantized(input_ids=ids, attention_mask=mask).logits
    read = native().Decoder(str(bnb))
    assert read.config.quantization_method == "bitsandbytes"
    got = read.logits(ids, mask)
    assert _masked_max_diff(got, want, mask) < TOL
    # bitsandbytes' own CPU forward is less precise (about 1% per projection, measured): same model
    assert _masked_max_diff(got, bnb_forward, mask) < 0.1
    # Quantizing the dense checkpoint ourselves gives nearly the same model: the same 4-bit codes,
    # but the scales' offset (their mean) is summed in float64 here and in float32 by bitsandbytes,
    # which moves a few double-quantized scales by one level (1.1e-3 on these logits, measured).
    ours = native().Decoder(str(base), quantization="nf4", quant_block_size=64, double_quant=True)
    assert _masked_max_diff(ours.logits(ids, mask), want, mask) < 1e-2
    plain = native().Decoder(str(base), quantization="nf4", quant_block_size=64)
    assert _masked_max_diff(plain.logits(ids, mask), want, mask) > _masked_max_diff(
        ours.logits(ids, mask), want, mask
    )

    cfg = LoraConfig(
        r=4, target_modules="all-linear", max_steps=4, batch_size=4, learning_rate=1e-2, mode="instruct"
    )
    res = train_lora(bnb, _rows(12), config=cfg, output_dir=tmp_path / "out", show_progress=False)
    assert res.train_loss[-1] < res.train_loss[0]
    peft_model = _peft_load(tmp_path / "deq", tmp_path / "out").eval()
    with torch.no_grad():
        want = peft_model(input_ids=ids, attention_mask=mask).logits
    got = load_adapter(bnb, tmp_path / "out").logits(ids, mask)
    assert _masked_max_diff(got, want, mask) < TOL
