module GcnKd.Tests.OptimTests
