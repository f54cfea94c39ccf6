/// (to be written)
module GcnKd.PlaceholderKnn
