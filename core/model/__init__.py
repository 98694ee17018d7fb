"""Zero-shot models: open_clip loading, the zero-shot head, the word tokenizer of small worlds, inference.

clip       load_clip(ModelSpec), build_zero_shot_head, ImageClassifier (the network WiSE-FT interpolates)
tokenizer  WordTokenizer, open_clip's calling convention over a word vocabulary
evaluate   decode images once, predict logits without gradients (shared by sweep, fine-tuning and the lab)
"""
