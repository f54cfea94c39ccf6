/// (to be written)
module GcnKd.PlaceholderPointClouds
