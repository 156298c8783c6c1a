"""Exploration harness for docs/convergence.md: the project's ConformerEncoder + a CTC head trained on fbank
held in memory, dev CER (greedy) every --eval-every seconds of training time, one JSON line per point.

Usage (from egs/indic after ./run.sh --stage 0 --stop_stage 4):
    python ../../docs/experiments/explore_ctc.py --name c1_base --minutes 5
    python ../../docs/experiments/explore_ctc.py --name c2_spm1000 --units spm --minutes 5
Writes runs/<name>.jsonl under --out-dir. Not part of the recipe: the recipe's stage 6 is the real thing.
"""
import argparse, json, math, os, random, time, sys, pickle
from pathlib import Path
import torch, torch.nn as nn, torch.nn.functional as F

from prefixasr.model.encoder import ConformerEncoder, utterance_cmvn, lengths_to_mask

p = argparse.ArgumentParser()
p.add_argument("--name", required=True)
p.add_argument("--data", default="data", help="the recipe's data dir")
p.add_argument("--out-dir", default="exp/explore", help="where runs/<name>.jsonl goes")
p.add_argument("--train", default="fbank/train_cuts.jsonl.gz")
p.add_argument("--minutes", type=float, default=5)
p.add_argument("--eval-every", type=float, default=30)
p.add_argument("--units", default="char", choices=["char", "spm"])
p.add_argument("--arch", default="conformer", choices=["conformer", "lstm"])
p.add_argument("--d-model", type=int, default=144)
p.add_argument("--layers", type=int, default=4)
p.add_argument("--ffn", type=int, default=576)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--kernel", type=int, default=15)
p.add_argument("--sub-ch", type=int, default=32)
p.add_argument("--dropout", type=float, default=0.1)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--warmup", type=int, default=200)
p.add_argument("--schedule", default="invsqrt")
p.add_argument("--batch-sec", type=float, default=40)
p.add_argument("--sortagrad", action="store_true")
p.add_argument("--wd", type=float, default=0.01)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--specaug", action="store_true")
p.add_argument("--stack", type=int, default=1, help="extra frame stacking after encoder")
p.add_argument("--max-train", type=int, default=0)
p.add_argument("--pos-enc", default="sinusoidal", choices=["sinusoidal", "none"])
p.add_argument("--xscale", action="store_true")
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed); random.seed(args.seed)

cache = Path(args.data) / f".explore_{Path(args.train).name}.pt"
def load(path):
    from lhotse import load_manifest_lazy
    out = []
    for c in load_manifest_lazy(path):
        s = c.supervisions[0]
        out.append((torch.from_numpy(c.load_features()), s.text, s.language, c.id))
    return out
if cache.exists():
    train, dev = torch.load(cache)
else:
    train = load(Path(args.data) / args.train); dev = load(Path(args.data) / "fbank/dev_cuts.jsonl.gz")
    torch.save((train, dev), cache)
if args.max_train: train = train[:args.max_train]

# ---- units
if args.units == "char":
    syms = sorted({ch for _, t, _, _ in train for ch in t})
    table = {ch: i + 1 for i, ch in enumerate(syms)}
    enc = lambda t, l: [table[c] for c in t if c in table]
    dec = lambda ids: "".join(syms[i - 1] for i in ids)
elif args.units == "spm":
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(Path(args.data) / "lang/spm.model"))
    enc = lambda t, l: sp.encode(t)
    dec = lambda ids: sp.decode(list(ids))
    syms = [None] * (sp.get_piece_size() - 1)
nclass = len(syms) + 1

def cer(pairs):
    import kaldialign
    e = n = 0
    for h, r in pairs:
        e += kaldialign.edit_distance(list(r), list(h))["total"]; n += len(r)
    return 100.0 * e / max(n, 1)

# ---- model
class LSTMEnc(nn.Module):
    def __init__(s, d):
        super().__init__()
        from prefixasr.model.encoder import Conv2dSubsampling
        s.sub = Conv2dSubsampling(80, d, args.sub_ch)
        s.rnn = nn.LSTM(d, d // 2 * 2 // 2, num_layers=args.layers, bidirectional=True, batch_first=True, dropout=args.dropout)
        s.d_model = d // 2 * 2
    def forward(s, x, lens):
        x, l = s.sub(utterance_cmvn(x, lens), lens)
        x = nn.utils.rnn.pack_padded_sequence(x, l.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        y, _ = s.rnn(x)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True)
        return y, l

if args.arch == "conformer":
    encoder = ConformerEncoder(80, args.d_model, args.layers, args.heads, args.ffn, args.kernel, args.dropout, args.sub_ch,
                               pos_enc=args.pos_enc, xscale=args.xscale)
    out_dim = args.d_model
else:
    encoder = LSTMEnc(args.d_model); out_dim = args.d_model
head = nn.Linear(out_dim * args.stack, nclass)
model = nn.ModuleList([encoder, head])
nparam = sum(p.numel() for p in model.parameters())
opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=args.wd)
w = args.warmup
sched = torch.optim.lr_scheduler.LambdaLR(opt, (lambda s: min((s + 1) / w, math.sqrt(w / (s + 1)))) if args.schedule == "invsqrt" else (lambda s: min(1.0, (s + 1) / w)))

def forward(feats, lens):
    y, l = encoder(feats, lens)
    if args.stack > 1:
        b, t, c = y.shape; pad = (-t) % args.stack
        y = F.pad(y, (0, 0, 0, pad)).reshape(b, (t + pad) // args.stack, c * args.stack)
        l = (l + args.stack - 1) // args.stack
    return head(y).log_softmax(-1), l

def collate(items):
    lens = torch.tensor([f.shape[0] for f, *_ in items])
    x = torch.zeros(len(items), int(lens.max()), 80)
    for i, (f, *_) in enumerate(items): x[i, :f.shape[0]] = f
    return x, lens

def batches(data, epoch):
    idx = list(range(len(data)))
    if args.sortagrad and epoch == 0:
        idx.sort(key=lambda i: data[i][0].shape[0])
    else:
        random.shuffle(idx)
        # bucket: sort within chunks of 100 by length
        idx = [j for k in range(0, len(idx), 200) for j in sorted(idx[k:k + 200], key=lambda i: data[i][0].shape[0])]
    out, cur, dur = [], [], 0
    for i in idx:
        d = data[i][0].shape[0] / 100
        if cur and dur + d > args.batch_sec:
            out.append(cur); cur, dur = [], 0
        cur.append(i); dur += d
    if cur: out.append(cur)
    if not (args.sortagrad and epoch == 0):
        random.shuffle(out)
    return out

def specaug(x):
    b, t, f = x.shape
    for i in range(b):
        for _ in range(2):
            w_ = random.randint(0, 27); s0 = random.randint(0, f - w_); x[i, :, s0:s0 + w_] = 0
        for _ in range(min(10, t // 100 + 1)):
            w_ = random.randint(0, min(40, t // 5)); s0 = random.randint(0, max(0, t - w_)); x[i, s0:s0 + w_] = 0
    return x

@torch.no_grad()
def evaluate():
    model.eval()
    pairs = []
    for k in range(0, len(dev), 16):
        items = dev[k:k + 16]
        x, lens = collate(items)
        lp, l = forward(x, lens)
        best = lp.argmax(-1)
        for i, (_, text, lang, _) in enumerate(items):
            seq = best[i, :l[i]].tolist()
            ids = [a for j, a in enumerate(seq) if a != 0 and (j == 0 or a != seq[j - 1])]
            pairs.append((dec(ids), text))
    model.train()
    return cer(pairs), pairs[:2]

Path(args.out_dir, "runs").mkdir(parents=True, exist_ok=True)
log = open(Path(args.out_dir, "runs", f"{args.name}.jsonl"), "w")
print(f"{args.name}: params {nparam/1e6:.2f}M classes {nclass}", json.dumps(vars(args)), flush=True)
log.write(json.dumps({"args": vars(args), "params": nparam}) + "\n")
t_start = time.time(); t_train = 0.0; next_eval = args.eval_every; step = 0; epoch = 0
losses = []
audio = 0.0
done = False
while not done:
    for b in batches(train, epoch):
        t0 = time.time()
        items = [train[i] for i in b]
        x, lens = collate(items)
        if args.specaug: x = specaug(x)
        tg = [torch.tensor(enc(t, l)) for _, t, l, _ in items]
        lp, l = forward(x, lens)
        loss = F.ctc_loss(lp.transpose(0, 1), torch.cat(tg), l, torch.tensor([len(t) for t in tg]), zero_infinity=True, reduction="sum") / sum(len(t) for t in tg)
        opt.zero_grad(); loss.backward()
        gn = nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step(); sched.step(); step += 1
        losses.append(loss.item()); audio += float(lens.sum()) / 100
        t_train += time.time() - t0
        if t_train >= next_eval:
            c, ex = evaluate()
            rec = {"t": round(t_train, 1), "step": step, "epoch": epoch, "loss": sum(losses) / len(losses), "dev_cer": round(c, 2), "audio_h": round(audio / 3600, 2), "lr": sched.get_last_lr()[0]}
            print(json.dumps(rec), "|", ex[0][0][:40], "||", ex[0][1][:40], flush=True)
            log.write(json.dumps(rec) + "\n"); log.flush()
            losses = []; next_eval += args.eval_every
            if t_train >= args.minutes * 60:
                done = True; break
    epoch += 1
