"""Networks: the Johnson transformer, the VGG perceptual loss network, the ResNet-18 classifier
backbone, and how their pretrained weights are found."""
