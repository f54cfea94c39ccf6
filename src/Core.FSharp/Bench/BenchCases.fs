/// (to be written)
module GcnKd.PlaceholderBenchCases
