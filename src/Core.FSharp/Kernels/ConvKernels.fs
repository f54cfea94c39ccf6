/// (to be written)
module GcnKd.PlaceholderConvKernels
