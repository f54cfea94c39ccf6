module GcnKd.Tests.ElementwiseTests
