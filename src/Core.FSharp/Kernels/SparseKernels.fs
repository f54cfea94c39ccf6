/// (to be written)
module GcnKd.PlaceholderSparseKernels
