# The kernel of `make test`'s second nbval pass (IPYTHONDIR points here): another thread count
# and another float32 matmul precision, so that an output which depends on either fails there.
import torch

torch.set_num_threads(1)
torch.set_float32_matmul_precision("medium")
