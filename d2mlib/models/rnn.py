"""Recurrent layers: GRU or LSTM by config, and a fast unrolled implementation of both on CPU.

`fast_rnn` computes a time-constant input projection once instead of once per frame, and its
backward pass accumulates the recurrent weight gradients in one matrix product over all frames;
it gives the same outputs and gradients as the layers' own forward (tests check it).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d2mlib.config import PRECISIONS
from d2mlib.errors import ConfigError


def make_rnn(
    kind: str, input_size: int, hidden: int, num_layers: int = 1, bidirectional: bool = False
) -> nn.GRU | nn.LSTM:
    """A batch-first nn.GRU or nn.LSTM (kind "gru" or "lstm")."""
    cls = {"gru": nn.GRU, "lstm": nn.LSTM}[kind]
    return cls(
        input_size, hidden, num_layers=num_layers, batch_first=True, bidirectional=bidirectional
    )


class _GRURecurrence(torch.autograd.Function):
    """h_t = GRU(h_{t-1}) given the input-side gate pre-activations; time-major output (T, B, H)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, gi: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor, steps: int, mm: torch.dtype
    ) -> Tensor:
        const = gi.dim() == 2
        hid = h0.shape[1]
        w_mm = w_hh.to(mm)  # the matrix products' operand (a copy when mm is bfloat16)
        hs = h0.new_empty(steps + 1, *h0.shape)
        gh_s = h0.new_empty(steps, h0.shape[0], 3 * hid)  # hidden-side pre-activations
        rz_s = h0.new_empty(steps, h0.shape[0], 2 * hid)  # reset and update gates
        n_s = h0.new_empty(steps, *h0.shape)  # candidate state
        hs[0] = h0
        h = h0
        for t in range(steps):  # results written in place into the saved buffers
            g = gi if const else gi[t]
            gh = torch.add(b_hh, torch.mm(h.to(mm), w_mm.t()), out=gh_s[t])
            rz = torch.add(g[:, : 2 * hid], gh[:, : 2 * hid], out=rz_s[t]).sigmoid_()
            n = torch.addcmul(g[:, 2 * hid :], rz[:, :hid], gh[:, 2 * hid :], out=n_s[t]).tanh_()
            h = torch.lerp(n, h, rz[:, hid:], out=hs[t + 1])  # (1 - z) n + z h
        ctx.save_for_backward(hs, rz_s, n_s, gh_s, w_mm)
        ctx.const, ctx.mm = const, mm
        return hs[1:]

    @staticmethod
    def backward(ctx, dout: Tensor):  # type: ignore[override]
        hs, rz_s, n_s, gh_s, w_mm = ctx.saved_tensors
        mm = ctx.mm
        steps, batch, hid = n_s.shape
        d_gh = hs.new_empty(steps, batch, 3 * hid)  # gradient of the hidden-side pre-activations
        d_gin = hs.new_empty(steps, batch, hid)
        dh = torch.zeros_like(hs[0])
        for t in range(steps - 1, -1, -1):
            dh = dh + dout[t]
            r, z, n = rz_s[t, :, :hid], rz_s[t, :, hid:], n_s[t]
            dn = dh * (1 - z) * (1 - n * n)
            d_gin[t] = dn
            d_gh[t, :, :hid] = dn * gh_s[t, :, 2 * hid :] * r * (1 - r)
            d_gh[t, :, hid : 2 * hid] = dh * (hs[t] - n) * z * (1 - z)
            d_gh[t, :, 2 * hid :] = dn * r
            dh = dh * z + (d_gh[t].to(mm) @ w_mm).to(dh.dtype)
        if ctx.const:
            d_gi = torch.cat([d_gh[:, :, : 2 * hid].sum(0), d_gin.sum(0)], dim=1)
        else:
            d_gi = torch.cat([d_gh[:, :, : 2 * hid], d_gin], dim=2)
        flat = d_gh.reshape(steps * batch, 3 * hid)
        d_w = d_b = None
        if ctx.needs_input_grad[2]:
            d_w = (flat.t().to(mm) @ hs[:-1].reshape(steps * batch, hid).to(mm)).to(hs.dtype)
        if ctx.needs_input_grad[3]:
            d_b = flat.sum(0)
        return d_gi, dh, d_w, d_b, None, None


class _LSTMRecurrence(torch.autograd.Function):
    """(h_t, c_t) = LSTM(h_{t-1}, c_{t-1}) given input-side gate pre-activations; output h (T, B, H)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        gi: Tensor,
        h0: Tensor,
        c0: Tensor,
        w_hh: Tensor,
        b_hh: Tensor,
        steps: int,
        mm: torch.dtype,
    ) -> Tensor:
        const = gi.dim() == 2
        hid = h0.shape[1]
        w_mm = w_hh.to(mm)
        hs = h0.new_empty(steps + 1, *h0.shape)
        cs = h0.new_empty(steps + 1, *h0.shape)
        acts = h0.new_empty(steps, h0.shape[0], 4 * hid)  # i, f, g, o after their nonlinearities
        tcs = h0.new_empty(steps, *h0.shape)
        hs[0], cs[0] = h0, c0
        h, c = h0, c0
        for t in range(steps):
            g = gi if const else gi[t]
            pre = torch.add(b_hh, torch.mm(h.to(mm), w_mm.t())).add_(g)
            a = acts[t]
            torch.sigmoid(pre, out=a)
            a[:, 2 * hid : 3 * hid] = torch.tanh(pre[:, 2 * hid : 3 * hid])
            c = torch.addcmul(a[:, hid : 2 * hid] * c, a[:, :hid], a[:, 2 * hid : 3 * hid])
            tc = torch.tanh(c)
            h = a[:, 3 * hid :] * tc
            hs[t + 1], cs[t + 1], tcs[t] = h, c, tc
        ctx.save_for_backward(hs, cs, acts, tcs, w_mm)
        ctx.const, ctx.mm = const, mm
        return hs[1:]

    @staticmethod
    def backward(ctx, dout: Tensor):  # type: ignore[override]
        hs, cs, acts, tcs, w_mm = ctx.saved_tensors
        mm = ctx.mm
        steps, batch, hid = tcs.shape
        d_pre = hs.new_empty(steps, batch, 4 * hid)
        dh = torch.zeros_like(hs[0])
        dc = torch.zeros_like(hs[0])
        for t in range(steps - 1, -1, -1):
            dh = dh + dout[t]
            a = acts[t]
            i, f, g, o = a[:, :hid], a[:, hid : 2 * hid], a[:, 2 * hid : 3 * hid], a[:, 3 * hid :]
            tc = tcs[t]
            dc = dc + dh * o * (1 - tc * tc)
            d_pre[t, :, :hid] = dc * g * i * (1 - i)
            d_pre[t, :, hid : 2 * hid] = dc * cs[t] * f * (1 - f)
            d_pre[t, :, 2 * hid : 3 * hid] = dc * i * (1 - g * g)
            d_pre[t, :, 3 * hid :] = dh * tc * o * (1 - o)
            dc = dc * f
            dh = (d_pre[t].to(mm) @ w_mm).to(dh.dtype)
        d_gi = d_pre.sum(0) if ctx.const else d_pre
        flat = d_pre.reshape(steps * batch, 4 * hid)
        d_w = d_b = None
        if ctx.needs_input_grad[3]:
            d_w = (flat.t().to(mm) @ hs[:-1].reshape(steps * batch, hid).to(mm)).to(hs.dtype)
        if ctx.needs_input_grad[4]:
            d_b = flat.sum(0)
        return d_gi, dh, dc, d_w, d_b, None, None


def fast_rnn(
    rnn: nn.GRU | nn.LSTM,
    x: Tensor,
    h0: Tensor | None = None,
    steps: int | None = None,
) -> Tensor:
    """Run `rnn`'s weights over batch-first `x` (B, T, I), or over a time-constant input (B, I)
    repeated `steps` times (its input projection is then computed once); returns (B, T, dirs*H).

    Same maths as `rnn(x, h0)[0]` (c0 = 0 for an LSTM); faster on CPU than the built-in forward
    and backward of nn.GRU / nn.LSTM. Dropout between layers is not supported. Under autocast
    (bfloat16), the matrix products run in bfloat16 while the state and the gates stay float32.
    """
    if rnn.dropout:
        raise ValueError("fast_rnn does not support dropout between layers")
    is_lstm = isinstance(rnn, nn.LSTM)
    hid, dirs = rnn.hidden_size, 2 if rnn.bidirectional else 1
    const = x.dim() == 2
    if const and steps is None:
        raise ValueError("steps is required for a time-constant input")
    batch = x.shape[0]
    steps = steps if const else x.shape[1]
    dev = x.device.type
    state = torch.promote_types(rnn.weight_hh_l0.dtype, torch.float32)  # float32 under autocast
    mm = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else state
    h0 = x.new_zeros(rnn.num_layers * dirs, batch, hid) if h0 is None else h0
    h0 = h0.to(state)
    layer_in = x if const else x.transpose(0, 1)  # time-major (T, B, I)
    for layer in range(rnn.num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = getattr(rnn, "weight_ih" + sfx), getattr(rnn, "weight_hh" + sfx)
            b_ih, b_hh = getattr(rnn, "bias_ih" + sfx), getattr(rnn, "bias_hh" + sfx)
            seq = layer_in if (const and layer == 0) or d == 0 else layer_in.flip(0)
            gi = F.linear(seq, w_ih, b_ih).to(state)
            h_init = h0[layer * dirs + d]
            if is_lstm:
                c_init = torch.zeros_like(h_init)
                out = _LSTMRecurrence.apply(gi, h_init, c_init, w_hh, b_hh, steps, mm)
            else:
                out = _GRURecurrence.apply(gi, h_init, w_hh, b_hh, steps, mm)
            outs.append(out.flip(0) if d else out)
        layer_in = torch.cat(outs, dim=2) if dirs == 2 else outs[0]
    return layer_in.transpose(0, 1)


def full(t: Tensor) -> Tensor:
    """`t` in float32 when autocast made it bfloat16 or float16; otherwise `t` itself."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bfloat16 natively (CUDA with bf16 support; a CPU with AMX or
    AVX512-BF16), where bfloat16 autocast is faster than float32."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return device.type == "cpu" and any(getattr(torch.cpu, c, lambda: False)() for c in checks)


def resolve_precision(precision: str, device: torch.device) -> str:
    """The arithmetic a TrainConfig.precision means on `device`: "auto" becomes "bf16" where
    `native_bf16`, else "fp32"; "fp32" and "bf16" stay as they are."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    return precision


def autocast_for(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The forward pass's context for a TrainConfig.precision: bfloat16 autocast or nothing."""
    if resolve_precision(precision, device) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def run_rnn(
    rnn: nn.GRU | nn.LSTM, x: Tensor, h0: Tensor, naive: bool, steps: int | None = None
) -> Tensor:
    """Batch-first outputs of `rnn` from initial hidden `h0` (c0 = 0): `fast_rnn` on CPU, the
    module's own forward when `naive` or on CUDA (cuDNN's fused kernels beat a Python loop there;
    a time-constant input (B, I) is then repeated `steps` times).

    cuDNN has no backward for an RNN in eval mode, and a frozen module (the composer's decoder of
    movement codes) is run in eval mode with gradients flowing through it: such a call runs on
    PyTorch's own CUDA kernels instead."""
    if not naive and not x.is_cuda:
        return fast_rnn(rnn, x, h0, steps)
    if x.dim() == 2:
        x = x.unsqueeze(1).repeat(1, steps, 1)
    state = (h0, torch.zeros_like(h0)) if isinstance(rnn, nn.LSTM) else h0
    frozen_with_grad = x.is_cuda and not rnn.training and torch.is_grad_enabled()
    with (
        torch.backends.cudnn.flags(enabled=False) if frozen_with_grad else contextlib.nullcontext()
    ):
        return rnn(x, state)[0]
