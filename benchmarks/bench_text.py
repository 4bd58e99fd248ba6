"""Text on a CPU: sentences per second for encoding (MiniLM, frozen) and for fine-tuning, and
``tlcourse.train.fit`` against a minimal hand-written loop on the same text batches.

    python -m benchmarks.bench_text

Target (issue 15): ``fit`` within 5% of the minimal loop's throughput on dict batches, as for
images. Encoding: sorted-by-length batches (what ``tlc.text.embed`` does) against batches in
the given order, with 1 and 2 threads. Fine-tuning: both loops train their own copy of the
encoder in ONE process, one epoch at a time, alternating A B B A (load from other processes
falls on both alike); the ratio is the median over the rounds.
"""

from __future__ import annotations

import contextlib
import copy
import io
import time

import torch
from torch.nn import functional as F

import tlcourse as tlc
import tlcourse.text as text
from benchmarks.common import alternate, write_section
from tlcourse.data.arrays import per_class_subset

MAX_LENGTH, ENCODE_N, FT_PER_CLASS, FT_BATCH, ROUNDS = 64, 768, 64, 16, 4


def _sentences(n: int) -> list[str]:
    texts = []
    for domain in text.DOMAINS:
        texts += text.load_sentences(domain, "test").texts[: n // len(text.DOMAINS)]
    return texts


def _encode(texts, tokenizer, model, sort: bool, batch: int = 64) -> float:
    order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort else range(len(texts))
    order = list(order)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(order), batch):
            enc = text.tokenize(tokenizer, [texts[j] for j in order[i:i + batch]], MAX_LENGTH)
            text.mean_pool(model(**enc).last_hidden_state, enc["attention_mask"])
    return len(texts) / (time.perf_counter() - start)


def encoding() -> list[dict]:
    tokenizer, model = text.load_encoder()
    texts = _sentences(ENCODE_N)
    # every core, and one: make bench's earlier sections leave torch at tlcourse's default
    rows, threads = [], torch.get_num_threads()
    for n_threads in sorted({1, tlc.env.available_cores()}):
        torch.set_num_threads(n_threads)
        _encode(texts[:64], tokenizer, model, True)  # warm-up
        for sort in (False, True):
            rows.append({"threads": n_threads, "sorted": sort,
                         "sentences_per_s": max(_encode(texts, tokenizer, model, sort)
                                                for _ in range(2))})
    torch.set_num_threads(threads)
    return rows


def fine_tuning() -> dict:
    tlc.setup(seed=0, quiet=True)
    tokenizer, encoder = text.load_encoder()
    pool = text.load_sentences("tweets", "train")
    train = pool.subset(per_class_subset(pool.labels, FT_PER_CLASS, seed=0))
    loader = text.text_loader(train, tokenizer, batch_size=FT_BATCH, shuffle=True,
                              max_length=MAX_LENGTH)
    mine = text.SentenceClassifier(encoder, 2)
    theirs = copy.deepcopy(mine)
    groups = lambda m: tlc.models.param_groups(m, head_lr=1e-3, backbone_lr_mult=0.05)  # noqa: E731
    opt = torch.optim.AdamW(groups(mine), weight_decay=0.01)
    # one optimizer per loop for the whole run: a new one per call to fit would restart
    # Adam's moments every epoch (a different run, and an allocation the loop never pays)
    fit_opt = torch.optim.AdamW(groups(theirs), weight_decay=0.01)

    def minimal():
        mine.train()
        for batch in loader:
            labels = batch.pop("labels")
            opt.zero_grad()
            F.cross_entropy(mine(**batch), labels).backward()
            opt.step()

    def fit():
        with contextlib.redirect_stderr(io.StringIO()):  # its progress bar, as learners see it
            tlc.train.fit(theirs, loader, num_epochs=1, progress=True, optimizer=fit_opt)

    minimal(), fit()  # warm-up
    times, ratio = alternate(minimal, fit, ROUNDS)
    return {"sentences_per_s": {k: len(train) / min(v) for k, v in times.items()},
            "ratio": ratio, "times": times,
            "threads": torch.get_num_threads(), "n": len(train)}


def main() -> dict:
    enc = encoding()
    ft = fine_tuning()
    verdict = "holds" if ft["ratio"] >= 0.95 else "MISSED"
    lines = [f"all-MiniLM-L6-v2 (22.7M parameters) on this CPU, at most {MAX_LENGTH} tokens, "
             f"dynamic padding. Encoding: {ENCODE_N} VADER test sentences (all four domains), "
             "batches of 64, frozen (inference mode), best of two passes.", "",
             "| threads | batches | sentences/s |", "|---:|---|---:|"]
    for r in enc:
        lines.append(f"| {r['threads']} | {'sorted by length' if r['sorted'] else 'given order'} "
                     f"| {r['sentences_per_s']:.0f} |")
    lines += ["", f"Fine-tuning (encoder + mean pooling + linear head, AdamW with the encoder at "
              f"0.05x the head's rate): {ft['n']} tweets, batch {FT_BATCH}, "
              f"{ft['threads']} thread(s); one warm-up epoch each, then {ROUNDS} rounds of one "
              "epoch per loop, alternating.", "",
              "| loop | sentences/s (best epoch) | epoch seconds |", "|---|---:|---|"]
    for name in ("minimal", "fit"):
        lines.append(f"| {name} | {ft['sentences_per_s'][name]:.1f} | "
                     f"{', '.join(f'{t:.2f}' for t in ft['times'][name])} |")
    lines += ["", f"`fit` runs at {ft['ratio']:.1%} of the minimal loop's throughput on text "
              f"batches (median of rounds; target >= 95%: {verdict})."]
    best = max(enc, key=lambda r: r["sentences_per_s"])
    write_section("Text: encoding and fine-tuning sentences per second", lines)
    print("\n".join(lines))
    return {"target": "CPU text: fit within 5% of a minimal loop (MiniLM fine-tuning)",
            "result": f"{ft['ratio']:.1%} ({ft['sentences_per_s']['fit']:.0f} sentences/s; "
                      f"encoding {best['sentences_per_s']:.0f}/s)", "verdict": verdict}


if __name__ == "__main__":
    main()
