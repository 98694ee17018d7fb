"""Labelled image sets and the dataset registry; one module per dataset family.

registry  ImageSet, register / get_dataset('name:arg'), folder:PATH pairs, decoding one example
layout    helpers the families share: find a dataset under --data-root, a file-backed ImageSet
shifts    ImageNet, CIFAR-10 and their natural shifts (the paper's main tables)
transfer  CIFAR-100, Food-101, DTD, SUN397, Stanford Cars (Table 2)
wilds     iWildCam and FMoW in the WILDS layout (Table 6)
video     ImageNet-Vid-Robust (Table 6)
ytbb      YTBB-Robust (Table 6), read as the paper's loader reads it
The embedded world's sets (`world:SPLIT`) register from core.worlds.registry.
"""
