/// (to be written)
module GcnKd.PlaceholderDgcnn
