/// (to be written)
module GcnKd.PlaceholderBatchNorm
