"""--langid predicted: the LID head's choice, overruled by the script the encoder CTC reads."""
import torch

from prefixasr.data.lang import LanguageMap
from prefixasr.data.text import script_languages
from prefixasr.data.tokenizer import Tokenizer, train_sentencepiece
from prefixasr.decode.decoder import Decoder
from prefixasr.decode.runner import DecodeOptions
from prefixasr.model import LoadedModel, build_model
from test_model_fixtures import fake_batch, tiny_config

torch.set_num_threads(1)
TEXTS = {"bn": "আমি ভাত খাই", "hi": "यह एक वाक्य है", "mr": "मी घरी जातो", "te": "ఇది ఒక పరీక్ష"}


def test_script_languages():
    langs = list(TEXTS)
    assert script_languages("ఇది ఒక", langs) == ["te"]
    assert script_languages("यह एक ఒ", langs) == ["hi", "mr"]  # most letters decide; hi/mr share a script
    assert script_languages("", langs) == langs and script_languages("abc", langs) == langs
    assert script_languages("ఇది", ["te", "xx"]) == ["te", "xx"]  # no rule for xx: never ruled out


def _decoder(tmp_path, with_ctc: bool) -> Decoder:
    tmp_path.mkdir()
    txt = tmp_path / "t.txt"
    txt.write_text("\n".join(TEXTS.values()) + "\n", encoding="utf-8")
    chars = Tokenizer.load(train_sentencepiece([txt], tmp_path / "chars", 200, model_type="char"))
    lang_map = LanguageMap.from_languages(list(TEXTS))
    cfg = tiny_config(llm={"type": "none"}, projector={"stack": 1}, encoder_ctc={"vocab_size": chars.vocab_size},
                      loss={"ce_weight": 0.0, "ctc_weight": 0.0, "lid_weight": 0.1,
                            "encoder_ctc_weight": 1.0 if with_ctc else 0.0})
    torch.manual_seed(0)
    model = build_model(cfg, 40, len(lang_map)).eval()
    with torch.no_grad():
        model.lid_head.net[-1].bias[lang_map.index("bn")] += 50.0  # the head is sure it hears Bengali
        if with_ctc:  # ... but the CTC reads a Telugu letter in every frame
            model.encoder_ctc.proj.weight.zero_()
            model.encoder_ctc.proj.bias.zero_()
            model.encoder_ctc.proj.bias[chars.encode("ఇ")[-1]] = 10.0
    loaded = LoadedModel(model=model, config={"model": cfg["model"]}, tokenizer=chars, lang_map=lang_map,
                         char_tokenizer=chars)
    return Decoder(loaded, DecodeOptions(method="rnnt_greedy"), langid="predicted")


def test_predicted_language_follows_the_script_the_ctc_reads(tmp_path):
    feats, lens, _, _ = fake_batch()
    lang_map = LanguageMap.from_languages(list(TEXTS))
    te, bn = lang_map.index("te"), lang_map.index("bn")
    assert _decoder(tmp_path / "a", with_ctc=False).language_scores(feats, lens).argmax(-1).tolist() == [bn] * 3
    assert _decoder(tmp_path / "b", with_ctc=True).language_scores(feats, lens).argmax(-1).tolist() == [te] * 3
