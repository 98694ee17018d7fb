"""Fine-tuning theta_0 into theta_1: end-to-end or a linear classifier, resumable.

finetune    FinetuneConfig and finetune(run, train_set, cfg) (the paper's recipe by default)
trainstate  safetensors train states that record what they were computed from (exact resume)
features    frozen-encoder features for the linear classifier, streamed to disk
presets     the paper's settings by name (`--preset vit-b-16-imagenet`)
"""
