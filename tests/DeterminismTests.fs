module GcnKd.Tests.DeterminismTests
