"""Pure torch networks and losses: the Johnson transformer, the perceptual loss networks, AdaIN,
the classifier backbone, Gatys optimisation, the photorealism and segmentation terms, image scores,
pretrained weights and checkpoint formats. No Lightning stage modules, no config nodes."""
