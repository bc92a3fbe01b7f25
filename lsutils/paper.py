"""Numbers quoted from Müller, Kornblith & Hinton, "When Does Label Smoothing Help?" (NeurIPS 2019,
arXiv:1906.02629 v3). These are the paper's figures, typed once here and cited wherever a
chapter puts them beside ours; nothing in this module is a result of this book."""

# Table 2: top-1 accuracy (%), mean ± std over seeds where reported; alpha = 0 vs alpha = 0.1.
ACCURACY = [
    {"data": "CIFAR-10", "network": "AlexNet", "hard": (86.8, 0.2), "smoothed": (86.7, 0.3)},
    {"data": "CIFAR-100", "network": "ResNet-56", "hard": (72.1, 0.3), "smoothed": (72.7, 0.3)},
    {"data": "ImageNet", "network": "Inception-v4", "hard": (80.9, None), "smoothed": (80.9, None)},
]

# Table 3: ECE (15 bins); temperature scaling (ECE, T) and label smoothing (ECE, alpha).
CALIBRATION = [
    {"data": "CIFAR-100", "network": "ResNet-56", "baseline": 0.150, "ts": (0.021, 1.9), "ls": (0.024, 0.05)},
    {"data": "ImageNet", "network": "Inception-v4", "baseline": 0.071, "ts": (0.022, 1.4), "ls": (0.035, 0.1)},
    {"data": "EN-DE", "network": "Transformer", "baseline": 0.056, "ts": (0.018, 1.13), "ls": (0.019, 0.1)},
]

# Section 4, MNIST text: test error (%) of teacher -> student.
MNIST_DISTILLATION = {"hard_teacher": (0.67, 0.74), "smoothed_teacher": (0.59, 0.91)}
